"""The register simulation: a first extract, then one year at a time.

The first extract draws single years of age, sex, households, Bezirke and nationality inside the
year's targets; its age-0 residents are exactly the year's births, with mothers from the extract.

Every later year ``y`` turns the extract of 31.12.(y-1) into that of 31.12.y:

1. deaths (Gompertz–Makeham by age and sex),
2. births: exactly the published number per district; mothers are drawn by fertility among the
   district's women aged 15–49 and the child joins the mother's household (which does not move
   this year); a few newborns die in their first year,
3. mobility units – households, and young adults living with a parent on their own – leave the
   city or change district, with Rogers–Castro age profiles,
4. units changing district pick a destination that still lacks residents in all their age
   classes (and, if they include non-Germans, is below its non-German target); else they stay,
5. where a district × age class still has too many residents, single persons leave the city,
6. some young adults who stayed found their own household in their district,
7. where a district × age class has too few residents, people move in from outside (grouped into
   households; as many of them non-German as the district's non-German target needs).

Steps 5 and 7 make every district × age class of the year's targets exact; the result is
checked before it is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bif_lib.synthetic import demography
from bif_lib.synthetic.events import EventLog
from bif_lib.synthetic.geography import Geography
from bif_lib.synthetic.households import NO_HOUSEHOLD, attach_to_households, form_households
from bif_lib.synthetic.population import (
    EU,
    GERMAN,
    NON_EU,
    People,
    PseudonymIssuer,
    random_dates_in_year,
    weighted_sample,
)
from bif_lib.synthetic.targets import CalibrationTargets, YearTargets

# Independent random streams per year and step: changing one step leaves the others' draws alone.
_STREAMS = {"first_extract": 1, "deaths": 2, "births": 3, "unit_moves": 4, "destinations": 5,
            "relocation": 6, "leavers": 7, "home_leaving": 8, "arrivals": 9, "nationality": 10}
_PERSON_ID_SALT, _HOUSEHOLD_ID_SALT = 101, 102

# Preference of the extra single leavers (step 5): people living alone or with their parents move
# more easily, the only adult of a household with children and members of a household with a
# birth hardly ever.
_LEAVER_WEIGHT_ON_THEIR_OWN = 3.0
_LEAVER_WEIGHT_ONLY_ADULT_WITH_CHILDREN = 1e-3
_LEAVER_WEIGHT_HOUSEHOLD_WITH_BIRTH = 1e-6


@dataclass(frozen=True)
class MobilityUnits:
    """Who moves together: a household, except young adults living with a parent, who move alone."""

    unit: np.ndarray  # unit number (0, 1, …) per person
    is_adult_child: np.ndarray  # bool per person

    @classmethod
    def of(cls, people: People, age: np.ndarray) -> MobilityUnits:
        _, household = np.unique(people.household_id, return_inverse=True)
        oldest = np.zeros(household.max() + 1 if len(household) else 0)
        np.maximum.at(oldest, household, age)
        youngest, eldest = demography.MIGRATION.adult_child_ages
        is_adult_child = ((age >= youngest) & (age <= eldest)
                          & (oldest[household] - age >= demography.MIGRATION.parent_generation_gap))
        unit = household.copy()
        unit[is_adult_child] = len(oldest) + np.arange(is_adult_child.sum())
        return cls(unit=unit, is_adult_child=is_adult_child)

    def oldest_age(self, age: np.ndarray) -> np.ndarray:
        """Age of each unit's oldest member."""
        oldest = np.zeros(self.unit.max() + 1 if len(self.unit) else 0)
        np.maximum.at(oldest, self.unit, age)
        return oldest


class RegisterSimulation:
    def __init__(self, targets: CalibrationTargets, geography: Geography, seed: int):
        self.targets = targets
        self.geography = geography
        self.seed = seed
        self.events = EventLog()
        self._person_ids = PseudonymIssuer(seed, _PERSON_ID_SALT)
        self._household_ids = PseudonymIssuer(seed, _HOUSEHOLD_ID_SALT)
        self._district_index = np.full(targets.district_ids.max() + 1, -1, dtype=np.int64)
        self._district_index[targets.district_ids] = np.arange(len(targets.district_ids))

    def _rng(self, year: int, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, year, _STREAMS[stream]])

    # ------------------------------------------------------------------ first extract

    def first_extract(self, year: int) -> People:
        """Residents at 31.12.``year`` drawn from the targets; their births of the year are recorded."""
        targets = self.targets.by_year[year]
        rng = self._rng(year, "first_extract")
        parts = [self._first_extract_district(targets, index, year, rng)
                 for index in range(len(self.targets.district_ids))]
        people = People.concat(parts)
        self._check_targets(people, targets)
        return people

    def _first_extract_district(self, targets: YearTargets, index: int, year: int,
                                rng: np.random.Generator) -> People:
        district_id = int(self.targets.district_ids[index])
        age = _first_extract_ages(targets, index, year, rng)
        n = len(age)
        is_female = rng.random(n) >= demography.male_share(age)  # at age 0: the sex ratio at birth

        newborns = np.flatnonzero(age == 0)
        mothers = rng.permutation(_draw_mothers(age, is_female, np.arange(n), len(newborns), rng))
        mother_of = np.full(n, -1, dtype=np.int64)
        mother_of[newborns] = mothers
        local_household = form_households(age, is_female, rng, mother_of)
        local_household = _place_leftover_children(local_household, age, is_female, rng)

        household_count = local_household.max() + 1
        nationality = _draw_nationality(age, targets.foreigners[index], targets.eu_share, rng)
        nationality[newborns] = _newborn_nationality(nationality[mothers], rng)
        people = People(
            person_id=self._person_ids.issue(n),
            birth_year=year - age,
            is_female=is_female,
            district_id=np.full(n, district_id, dtype=np.int64),
            bezirk=self.geography.draw(np.full(household_count, district_id), rng)[local_household],
            household_id=self._household_ids.issue(household_count)[local_household],
            nationality=nationality,
            moved_in=_first_extract_moved_in(age, local_household, year, rng),
        )
        self.events.add(year, "birth", people.take(newborns), mother_id=people.person_id[mothers],
                        mother_age=age[mothers])
        return people

    # ------------------------------------------------------------------ one year

    def advance(self, previous: People, year: int) -> People:
        """Extract of 31.12.``year`` from the one of 31.12.(``year`` - 1); records the year's events."""
        targets = self.targets.by_year[year]

        alive = self._deaths(previous, year)
        age = year - alive.birth_year
        babies, mothers = self._births(alive, age, targets, year)
        in_birth_household = np.isin(alive.household_id, alive.household_id[mothers])
        units = MobilityUnits.of(alive, age)

        leaves, changes = self._unit_moves(alive, age, units, in_birth_household, year)
        present = People.concat([alive.take(~leaves & ~changes), babies])
        deficit = targets.cells - self._cell_counts(present, targets)
        non_german_room = targets.foreigners - self._non_german_counts(present)
        destination = self._destinations(alive, age, units, changes, deficit, non_german_room, targets, year)
        moved = destination >= 0
        staying = ~leaves & ~moved

        is_mother = np.zeros(len(alive), dtype=bool)
        is_mother[mothers] = True
        single_leavers = self._single_leavers(alive, age, units, staying & ~is_mother, in_birth_household,
                                              deficit, targets, year)
        staying &= ~single_leavers
        stayers = self._leave_parental_home(alive, units, staying & ~in_birth_household, year).take(staying)

        movers = self._relocate(alive, units, moved, destination, year)
        residents = People.concat([stayers, movers, babies])
        arrivals = self._arrivals(residents, deficit, targets, year)

        self.events.add(year, "move_out", alive.take(leaves | single_leavers))
        self.events.add(year, "move_within", movers, district_id=alive.district_id[moved],
                        to_district_id=movers.district_id)
        self.events.add(year, "move_in", arrivals)
        people = People.concat([residents, arrivals])
        self._check_targets(people, targets)
        return people

    def _deaths(self, previous: People, year: int) -> People:
        rng = self._rng(year, "deaths")
        age = year - previous.birth_year
        dies = rng.random(len(previous)) < demography.death_probability(age, previous.is_female)
        self.events.add(year, "death", previous.take(dies))
        return previous.take(~dies)

    def _births(self, alive: People, age: np.ndarray, targets: YearTargets, year: int) -> tuple[People, np.ndarray]:
        """Surviving newborns (joining their mother's household) and the mothers' indices in ``alive``."""
        rng = self._rng(year, "births")
        mothers = np.concatenate([
            _draw_mothers(age, alive.is_female, np.flatnonzero(alive.district_id == district_id), births, rng)
            for district_id, births in zip(self.targets.district_ids, targets.births, strict=True)
        ])
        n = len(mothers)
        babies = People(
            person_id=self._person_ids.issue(n),
            birth_year=np.full(n, year, dtype=np.int64),
            is_female=rng.random(n) >= demography.MALE_SHARE_AT_BIRTH,
            district_id=alive.district_id[mothers],
            bezirk=alive.bezirk[mothers],
            household_id=alive.household_id[mothers],
            nationality=_newborn_nationality(alive.nationality[mothers], rng),
            moved_in=random_dates_in_year(year, n, rng),
        )
        self.events.add(year, "birth", babies, mother_id=alive.person_id[mothers], mother_age=age[mothers])
        infant_death = rng.random(n) < demography.death_probability(np.zeros(n), babies.is_female)
        self.events.add(year, "death", babies.take(infant_death))
        return babies.take(~infant_death), mothers

    def _unit_moves(self, alive: People, age: np.ndarray, units: MobilityUnits, immobile: np.ndarray,
                    year: int) -> tuple[np.ndarray, np.ndarray]:
        """Person masks of the units leaving the city / changing district, by the oldest member's age."""
        rng = self._rng(year, "unit_moves")
        unit = units.unit
        oldest = units.oldest_age(age)
        size = np.bincount(unit)
        non_german = np.bincount(unit, weights=alive.nationality != GERMAN) > 0
        blocked = np.bincount(unit, weights=immobile) > 0
        mobility = np.where(non_german, demography.MIGRATION.non_german_mobility_factor, 1.0) * ~blocked

        def move_probability(profile: demography.RogersCastro, share_of_residents: float) -> np.ndarray:
            propensity = profile.propensity(oldest) * mobility
            return share_of_residents * len(alive) / (propensity * size).sum() * propensity

        leave = np.minimum(move_probability(demography.DEPARTURE_AGE_PROFILE,
                                            demography.MIGRATION.leave_city_share), 0.5)
        change = np.minimum(move_probability(demography.DISTRICT_CHANGE_AGE_PROFILE,
                                             demography.MIGRATION.change_district_share), 0.4)
        draw = rng.random(len(size))
        leaves = draw < leave
        changes = ~leaves & (draw < leave + change)
        return leaves[unit], changes[unit]

    def _destinations(self, alive: People, age: np.ndarray, units: MobilityUnits, changes: np.ndarray,
                      deficit: np.ndarray, non_german_room: np.ndarray, targets: YearTargets,
                      year: int) -> np.ndarray:
        """Destination district per person (-1: not moving) for the units changing district.

        A unit goes to a district that still lacks residents in all of its members' age classes
        and, if it has non-German members, is still below its non-German target (chance
        proportional to the lack of residents); if none qualifies, it stays. ``deficit`` and
        ``non_german_room`` are updated in place.
        """
        rng = self._rng(year, "destinations")
        destination = np.full(len(alive), -1, dtype=np.int64)
        movers = np.flatnonzero(changes)
        movers = movers[np.argsort(units.unit[movers], kind="stable")]
        _, starts = np.unique(units.unit[movers], return_index=True)
        members_of = np.split(movers, starts[1:]) if len(movers) else []
        age_class = targets.age_class(age)
        non_german = alive.nationality != GERMAN
        class_count = len(targets.class_lower)
        for members in (members_of[i] for i in rng.permutation(len(members_of))):
            need = np.bincount(age_class[members], minlength=class_count)
            classes = np.flatnonzero(need)
            non_german_members = np.count_nonzero(non_german[members])
            origin = self._district_index[alive.district_id[members[0]]]
            room = (deficit[:, classes] >= need[classes]).all(axis=1)
            if non_german_members:
                room &= non_german_room >= non_german_members
            room[origin] = False
            chosen = origin
            if room.any():
                options = np.flatnonzero(room)
                cumulative = np.cumsum(deficit[options][:, classes].sum(axis=1))
                chosen = options[np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")]
                destination[members] = self.targets.district_ids[chosen]
            deficit[chosen, classes] -= need[classes]  # at the origin: stays after all
            non_german_room[chosen] -= non_german_members
        return destination

    def _relocate(self, alive: People, units: MobilityUnits, moved: np.ndarray, destination: np.ndarray,
                  year: int) -> People:
        """Movers in their new district: new Bezirk and moving-in date per unit. A unit that is
        only part of its household (a young adult leaving the parents, or parents leaving a young
        adult behind) founds a new household."""
        rng = self._rng(year, "relocation")
        movers = alive.take(moved)
        _, unit = np.unique(units.unit[moved], return_inverse=True)
        first_member = np.unique(unit, return_index=True)[1]
        _, household = np.unique(alive.household_id, return_inverse=True)
        moving_members = np.bincount(household[moved], minlength=household.max() + 1)
        whole_household = np.bincount(household)[household[moved]] == moving_members[household[moved]]
        whole_household &= ~units.is_adult_child[moved]
        household_id = movers.household_id.copy()
        split_unit = np.unique(unit[~whole_household])
        new_ids = np.zeros(len(first_member), dtype=np.int64)
        new_ids[split_unit] = self._household_ids.issue(len(split_unit))
        household_id[~whole_household] = new_ids[unit[~whole_household]]
        return movers.updated(
            district_id=destination[moved],
            bezirk=self.geography.draw(destination[moved][first_member], rng)[unit],
            household_id=household_id,
            moved_in=random_dates_in_year(year, len(first_member), rng)[unit],
        )

    def _leave_parental_home(self, alive: People, units: MobilityUnits, candidates: np.ndarray, year: int) -> People:
        """Young adults founding their own household in their district (new Bezirk draw, no event)."""
        rng = self._rng(year, "home_leaving")
        leaving = np.flatnonzero(candidates & units.is_adult_child
                                 & (rng.random(len(alive)) < demography.MIGRATION.home_leaving_rate))
        household_id, bezirk, moved_in = alive.household_id.copy(), alive.bezirk.copy(), alive.moved_in.copy()
        household_id[leaving] = self._household_ids.issue(len(leaving))
        bezirk[leaving] = self.geography.draw(alive.district_id[leaving], rng)
        moved_in[leaving] = random_dates_in_year(year, len(leaving), rng)
        return alive.updated(household_id=household_id, bezirk=bezirk, moved_in=moved_in)

    def _single_leavers(self, alive: People, age: np.ndarray, units: MobilityUnits, candidates: np.ndarray,
                        in_birth_household: np.ndarray, deficit: np.ndarray, targets: YearTargets,
                        year: int) -> np.ndarray:
        """Persons leaving the city alone where a district/age class has too many residents."""
        rng = self._rng(year, "leavers")
        leavers = np.zeros(len(alive), dtype=bool)
        surplus_cells = np.argwhere(deficit < 0)
        if len(surplus_cells) == 0:
            return leavers
        weight = demography.DEPARTURE_AGE_PROFILE.propensity(age) * _household_situation_weight(
            alive.household_id, age, candidates, in_birth_household, units.is_adult_child)
        district = self._district_index[alive.district_id]
        age_class = targets.age_class(age)
        for district_index, class_index in surplus_cells:
            pool = np.flatnonzero(candidates & (district == district_index) & (age_class == class_index))
            excess = -deficit[district_index, class_index]
            if excess > len(pool):
                raise RuntimeError(f"{year}: cannot remove {excess} residents from district "
                                   f"{self.targets.district_ids[district_index]}, age class {class_index}")
            leavers[pool[weighted_sample(weight[pool], excess, rng)]] = True
            deficit[district_index, class_index] = 0
        return leavers

    def _arrivals(self, residents: People, deficit: np.ndarray, targets: YearTargets, year: int) -> People:
        """People moving into the city to fill the remaining deficit; deficit is cleared."""
        rng = self._rng(year, "arrivals")
        parts = []
        for index, district_id in enumerate(self.targets.district_ids):
            age = _arrival_ages(targets, deficit[index], rng)
            deficit[index] = 0
            if len(age):
                parts.append(self._arrival_households(residents, int(district_id), age, year, rng))
        arrivals = People.concat(parts) if parts else People.empty()
        return self._arrival_nationality(residents, arrivals, targets, year)

    def _arrival_households(self, residents: People, district_id: int, age: np.ndarray, year: int,
                            rng: np.random.Generator) -> People:
        n = len(age)
        is_female = rng.random(n) >= demography.male_share(age)
        local_household = form_households(age, is_female, rng)
        household_count = local_household.max() + 1
        household_id = self._household_ids.issue(household_count)[local_household]
        bezirk = self.geography.draw(np.full(household_count, district_id), rng)[local_household]
        moved_in = random_dates_in_year(year, household_count, rng)[local_household]

        # Children arriving without a fitting adult join a household already living in the district.
        alone = np.flatnonzero(local_household == NO_HOUSEHOLD)
        if len(alone):
            local = np.flatnonzero(residents.district_id == district_id)
            joined = attach_to_households(age[alone], year - residents.birth_year[local], residents.is_female[local],
                                          np.arange(len(local)), rng)
            if (joined == NO_HOUSEHOLD).any():
                raise RuntimeError(f"{year}: no adult in district {district_id} to take in an arriving child")
            household_id[alone] = residents.household_id[local[joined]]
            bezirk[alone] = residents.bezirk[local[joined]]
            moved_in[alone] = random_dates_in_year(year, len(alone), rng)
        return People(
            person_id=self._person_ids.issue(n),
            birth_year=year - age,
            is_female=is_female,
            district_id=np.full(n, district_id, dtype=np.int64),
            bezirk=bezirk,
            household_id=household_id,
            nationality=np.full(n, GERMAN, dtype=np.int8),
            moved_in=moved_in,
        )

    def _arrival_nationality(self, residents: People, arrivals: People, targets: YearTargets, year: int) -> People:
        """Make as many arrivals non-German as the district's non-German target still needs."""
        rng = self._rng(year, "nationality")
        nationality = arrivals.nationality.copy()
        age = year - arrivals.birth_year
        for index, district_id in enumerate(self.targets.district_ids):
            pool = np.flatnonzero(arrivals.district_id == district_id)
            present = np.count_nonzero((residents.district_id == district_id) & (residents.nationality != GERMAN))
            needed = int(np.clip(targets.foreigners[index] - present, 0, len(pool)))
            chosen = pool[weighted_sample(demography.non_german_weight(age[pool]), needed, rng)]
            nationality[chosen] = np.where(rng.random(needed) < targets.eu_share, EU, NON_EU)
        return arrivals.updated(nationality=nationality)

    # ------------------------------------------------------------------ helpers

    def _cell_counts(self, people: People, targets: YearTargets) -> np.ndarray:
        district = self._district_index[people.district_id]
        age_class = targets.age_class(targets.year - people.birth_year)
        class_count = len(targets.class_lower)
        counts = np.bincount(district * class_count + age_class, minlength=len(self.targets.district_ids) * class_count)
        return counts.reshape(len(self.targets.district_ids), class_count)

    def _non_german_counts(self, people: People) -> np.ndarray:
        non_german = self._district_index[people.district_id[people.nationality != GERMAN]]
        return np.bincount(non_german, minlength=len(self.targets.district_ids))

    def _check_targets(self, people: People, targets: YearTargets) -> None:
        if not np.array_equal(self._cell_counts(people, targets), targets.cells):
            raise RuntimeError(f"{targets.year}: synthetic residents do not reproduce the targets")
        if len(np.unique(people.person_id)) != len(people):
            raise RuntimeError(f"{targets.year}: duplicate person ids")


def _first_extract_ages(targets: YearTargets, index: int, year: int, rng: np.random.Generator) -> np.ndarray:
    """Single years of age for one district: age 0 = the year's births, the rest by the initial profile.

    Each age class gets exactly its target; inside the classes the profile is scaled by a
    multiplier that varies smoothly with age, so that no steps appear at the class boundaries.
    """
    ages = np.arange(demography.OLDEST_AGE + 1)
    age_class = targets.age_class(ages)
    newborns = int(targets.births[index])
    wanted = targets.cells[index].copy()
    wanted[age_class[0]] -= newborns
    if wanted[age_class[0]] < 0:
        raise ValueError(f"{year}: more births than residents of the youngest age class")
    profile = demography.initial_age_weights(ages, year)
    profile[0] = 0.0  # age 0 are exactly the year's newborns
    weights = _smoothly_scaled(profile, age_class, wanted)

    drawn = [np.zeros(newborns, dtype=np.int64)]
    for k, count in enumerate(wanted):
        members = ages[age_class == k]
        drawn.append(np.repeat(members, rng.multinomial(count, weights[members] / weights[members].sum())))
    return np.concatenate(drawn)


def _smoothly_scaled(profile: np.ndarray, age_class: np.ndarray, class_totals: np.ndarray,
                     iterations: int = 50) -> np.ndarray:
    """Profile times a multiplier, piecewise linear in log between class centres, fitted so that
    the classes' expected sizes match ``class_totals``."""
    ages = np.arange(len(profile))
    class_count = len(class_totals)
    centres = np.bincount(age_class, profile * ages, class_count) / np.bincount(age_class, profile, class_count)
    log_multiplier = np.zeros(class_count)
    wanted = np.maximum(class_totals, 0.5)
    for _ in range(iterations):
        weights = profile * np.exp(np.interp(ages, centres, log_multiplier))
        log_multiplier += np.log(wanted / np.bincount(age_class, weights, class_count))
    return profile * np.exp(np.interp(ages, centres, log_multiplier))


def _arrival_ages(targets: YearTargets, missing_per_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ages = []
    for age_class, count in enumerate(missing_per_class):
        if count <= 0:
            continue
        lower, upper = targets.class_bounds(age_class)
        candidates = np.arange(lower, demography.OLDEST_AGE + 1 if upper is None else upper)
        weights = demography.in_migrant_age_weights(candidates)
        ages.append(np.repeat(candidates, rng.multinomial(count, weights / weights.sum())))
    return np.concatenate(ages) if ages else np.empty(0, dtype=np.int64)


def _draw_mothers(age: np.ndarray, is_female: np.ndarray, pool: np.ndarray, births: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Indices of ``births`` distinct mothers among ``pool``, drawn by age-specific fertility."""
    fertility = demography.FERTILITY.weight(age[pool]) * is_female[pool]
    if births > np.count_nonzero(fertility):
        raise ValueError(f"{births} births but only {np.count_nonzero(fertility)} women aged 15-49")
    return pool[weighted_sample(fertility, births, rng)]


def _draw_nationality(age: np.ndarray, non_german: int, eu_share: float, rng: np.random.Generator) -> np.ndarray:
    nationality = np.full(len(age), GERMAN, dtype=np.int8)
    chosen = weighted_sample(demography.non_german_weight(age), min(int(non_german), len(age)), rng)
    nationality[chosen] = np.where(rng.random(len(chosen)) < eu_share, EU, NON_EU)
    return nationality


def _newborn_nationality(mother_nationality: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """German if the mother is German, else German by birth with a fixed share, else the mother's group."""
    german_by_birth = rng.random(len(mother_nationality)) < demography.GERMAN_AT_BIRTH_SHARE_OF_NON_GERMAN_MOTHERS
    return np.where(german_by_birth, GERMAN, mother_nationality).astype(np.int8)


def _place_leftover_children(local_household: np.ndarray, age: np.ndarray, is_female: np.ndarray,
                             rng: np.random.Generator) -> np.ndarray:
    alone = np.flatnonzero(local_household == NO_HOUSEHOLD)
    if len(alone) == 0:
        return local_household
    placed = np.flatnonzero(local_household != NO_HOUSEHOLD)
    joined = attach_to_households(age[alone], age[placed], is_female[placed], local_household[placed], rng)
    without_adult = joined == NO_HOUSEHOLD
    joined[without_adult] = local_household.max() + 1 + np.arange(without_adult.sum())
    result = local_household.copy()
    result[alone] = joined
    return result


def _first_extract_moved_in(age: np.ndarray, local_household: np.ndarray, year: int,
                            rng: np.random.Generator) -> np.ndarray:
    """Moving-in date: per household, years back drawn by the oldest member's age; never before birth."""
    oldest = np.zeros(local_household.max() + 1)
    np.maximum.at(oldest, local_household, age)
    years_here = np.minimum(rng.exponential(demography.mean_residence_years(oldest)),
                            demography.longest_residence_years(oldest))
    household_date = np.datetime64(f"{year}-12-31", "D") - np.rint(years_here * 365.25).astype("timedelta64[D]")
    january_first = (year - age - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    birth_date = january_first + rng.integers(0, 365, len(age)).astype("timedelta64[D]")
    return np.maximum(household_date[local_household], birth_date)


def _household_situation_weight(household_id: np.ndarray, age: np.ndarray, candidates: np.ndarray,
                                in_birth_household: np.ndarray, is_adult_child: np.ndarray) -> np.ndarray:
    _, household = np.unique(household_id, return_inverse=True)
    size = np.bincount(household)
    adults = np.bincount(household, weights=age >= 18)
    minors = np.bincount(household, weights=age < 18)
    weight = np.ones(len(household_id))
    weight[(size[household] == 1) | is_adult_child] = _LEAVER_WEIGHT_ON_THEIR_OWN
    only_adult_with_children = (age >= 18) & (adults[household] == 1) & (minors[household] > 0)
    weight[only_adult_with_children] = _LEAVER_WEIGHT_ONLY_ADULT_WITH_CHILDREN
    weight[in_birth_household] = _LEAVER_WEIGHT_HOUSEHOLD_WITH_BIRTH
    return np.where(candidates, weight, 0.0)
