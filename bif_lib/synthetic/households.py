"""Group the persons of one district (or one group of people moving in) into households.

A simple rule-based model, enough for plausible household ids:

1. Children (< 18) and some young adults (18–24) live with a mother whose age fits
   (mother's age − child's age ~ N(31, 5), between 16 and 50 years); the number of children
   per mother follows a fixed distribution (mostly one or two).
2. Most mothers live with a partner (a man ~2.5 years older).
3. Other adults form couples with an age-dependent probability (fewer at old age: widowhood).
4. Some remaining 18–29-year-olds share a flat (Wohngemeinschaft, 2–4 persons).
5. Everybody else lives alone.

Household sizes come out at ~1.8 persons on average with a majority of one-person households,
as in German university towns. Children for whom no fitting woman exists in the group get
household -1; the caller attaches them to an existing household (:func:`attach_to_households`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bif_lib.synthetic.population import weighted_sample

NO_HOUSEHOLD = -1


@dataclass(frozen=True)
class HouseholdParameters:
    mother_age_gap_mean: float = 31.0
    mother_age_gap_sd: float = 5.0
    mother_age_gap_min: int = 16
    mother_age_gap_max: int = 50
    # (children living with the mother, share of mothers): German families, rounded
    children_per_mother: tuple[tuple[int, float], ...] = ((1, 0.47), (2, 0.38), (3, 0.11), (4, 0.04))
    young_adults_with_parents_share: float = 0.3  # of the 18–24-year-olds
    mothers_with_partner_share: float = 0.75
    partner_age_gap_mean: float = 2.5  # man older than woman
    partner_age_gap_sd: float = 3.5
    # (lowest age, probability that a woman of that age without children at home lives in a couple)
    couple_share_by_age: tuple[tuple[int, float], ...] = ((20, 0.2), (25, 0.45), (35, 0.6), (65, 0.6),
                                                          (75, 0.45), (85, 0.2))
    shared_flat_share: float = 0.3  # of the single 18–29-year-olds
    shared_flat_sizes: tuple[int, ...] = (2, 3, 4)
    shared_flat_size_weights: tuple[float, ...] = (0.5, 0.3, 0.2)


HOUSEHOLDS = HouseholdParameters()


def form_households(age: np.ndarray, is_female: np.ndarray, rng: np.random.Generator,
                    mother_of: np.ndarray | None = None,
                    params: HouseholdParameters = HOUSEHOLDS) -> np.ndarray:
    """Household number (0, 1, …) for every person of one group; NO_HOUSEHOLD for unplaced children.

    ``mother_of`` optionally fixes the mother (index into the group) of some children (-1 = free);
    used for the newborns of the first extract, whose mother is drawn by fertility.
    """
    n = len(age)
    household = np.full(n, NO_HOUSEHOLD, dtype=np.int64)
    mother = np.full(n, -1, dtype=np.int64) if mother_of is None else mother_of.astype(np.int64).copy()

    young_adult = (age >= 18) & (age <= 24)
    dependant = (age < 18) | (young_adult & (rng.random(n) < params.young_adults_with_parents_share))
    dependant |= mother >= 0
    dependant[mother[mother >= 0]] = False  # a (possibly teenage) mother heads her own household
    _assign_mothers(age, is_female, dependant, mother, rng, params)

    # Mothers head a household; dependants join it.
    is_mother = np.zeros(n, dtype=bool)
    is_mother[mother[mother >= 0]] = True
    mothers = np.flatnonzero(is_mother)
    household[mothers] = np.arange(len(mothers))
    placed_dependants = mother >= 0
    household[placed_dependants] = household[mother[placed_dependants]]
    next_household = len(mothers)

    # Young adults without a fitting mother live on their own like other adults.
    free = (household == NO_HOUSEHOLD) & (age >= 18)
    free_men = np.flatnonzero(free & ~is_female)

    # Partners of mothers.
    with_partner = mothers[rng.random(len(mothers)) < params.mothers_with_partner_share]
    partner = _pair_by_age(age[with_partner] + _partner_gap(len(with_partner), rng, params),
                           age[free_men], rng)
    matched = partner >= 0
    household[free_men[partner[matched]]] = household[with_partner[matched]]

    # Couples without children at home.
    free = (household == NO_HOUSEHOLD) & (age >= 18)
    women = np.flatnonzero(free & is_female & (age >= params.couple_share_by_age[0][0]))
    lower_ages, shares = zip(*params.couple_share_by_age, strict=True)
    couple_share = np.asarray(shares)[np.searchsorted(lower_ages, age[women], side="right") - 1]
    women = women[rng.random(len(women)) < couple_share]
    free_men = np.flatnonzero(free & ~is_female & (age >= params.couple_share_by_age[0][0]))
    partner = _pair_by_age(age[women] + _partner_gap(len(women), rng, params), age[free_men], rng)
    matched = partner >= 0
    couples = np.arange(next_household, next_household + matched.sum())
    household[women[matched]] = couples
    household[free_men[partner[matched]]] = couples
    next_household += matched.sum()

    # Shared flats among the remaining young adults.
    flatmates = np.flatnonzero((household == NO_HOUSEHOLD) & (age >= 18) & (age < 30))
    flatmates = rng.permutation(flatmates[rng.random(len(flatmates)) < params.shared_flat_share])
    sizes = rng.choice(params.shared_flat_sizes, size=len(flatmates),
                       p=np.asarray(params.shared_flat_size_weights) / sum(params.shared_flat_size_weights))
    flat_of_position = np.repeat(np.arange(len(sizes)), sizes)[: len(flatmates)]
    household[flatmates] = next_household + flat_of_position
    next_household += len(np.unique(flat_of_position))

    # Everybody else aged 18+ lives alone.
    alone = np.flatnonzero((household == NO_HOUSEHOLD) & (age >= 18))
    household[alone] = next_household + np.arange(len(alone))
    return _renumber(household)


def _assign_mothers(age: np.ndarray, is_female: np.ndarray, dependant: np.ndarray, mother: np.ndarray,
                    rng: np.random.Generator, params: HouseholdParameters) -> None:
    """Fill ``mother`` (in place) for dependants that have none yet.

    Every mother gets a number of child places drawn from ``children_per_mother``; dependants are
    matched to places rank by rank on the desired mother's age, so siblings are close in age.
    """
    unassigned = np.flatnonzero(dependant & (mother < 0))
    if len(unassigned) == 0:
        return
    fixed_mothers, fixed_children = np.unique(mother[mother >= 0], return_counts=True)
    desired_mother_age = age[unassigned] + rng.normal(params.mother_age_gap_mean, params.mother_age_gap_sd,
                                                      len(unassigned))
    sizes, shares = (np.asarray(column) for column in zip(*params.children_per_mother, strict=True))
    shares = shares / shares.sum()
    mean_children = float((sizes * shares).sum())

    candidates = np.setdiff1d(np.flatnonzero(is_female & ~dependant & (age >= 18)), fixed_mothers)
    wanted = int(np.ceil(dependant.sum() / mean_children)) - len(fixed_mothers)
    chosen = candidates[_choose_by_age_demand(desired_mother_age, age[candidates], max(wanted, 0), rng)]
    mothers = np.concatenate([fixed_mothers, chosen])
    places = rng.choice(sizes, size=len(mothers), p=shares)
    places[: len(fixed_mothers)] -= np.minimum(fixed_children, places[: len(fixed_mothers)])
    slots = np.repeat(mothers, places)

    slot = _pair_by_age(desired_mother_age, age[slots], rng)
    matched = slot >= 0
    candidate_mother = slots[slot[matched]]
    gap = age[candidate_mother] - age[unassigned[matched]]
    fits = (gap >= params.mother_age_gap_min) & (gap <= params.mother_age_gap_max)
    mother[unassigned[matched][fits]] = candidate_mother[fits]


def _choose_by_age_demand(desired_age: np.ndarray, candidate_age: np.ndarray, count: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` candidates, favouring ages that are wanted more often than available."""
    count = min(count, len(candidate_age))
    if count == 0:
        return np.empty(0, np.int64)
    top = int(max(candidate_age.max(), np.rint(desired_age).max(initial=0))) + 1
    wanted = np.bincount(np.clip(np.rint(desired_age), 0, top - 1).astype(int), minlength=top)
    available = np.bincount(candidate_age, minlength=top)
    weight = (wanted[candidate_age] + 0.05) / available[candidate_age]
    return weighted_sample(weight, count, rng)


def _pair_by_age(desired_age: np.ndarray, candidate_age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Partner (index into the candidates, or -1) for each desired age; partners are used once.

    Candidates are drawn by age demand and then matched rank by rank, so the pairs' ages follow
    the desired ages closely where the age distributions allow it.
    """
    partner = np.full(len(desired_age), -1, dtype=np.int64)
    pairs = min(len(desired_age), len(candidate_age))
    if pairs == 0:
        return partner
    chosen = _choose_by_age_demand(desired_age, candidate_age, pairs, rng)
    seekers = np.sort(rng.permutation(len(desired_age))[:pairs])
    seekers_by_age = seekers[np.argsort(desired_age[seekers] + rng.random(pairs), kind="stable")]
    chosen_by_age = chosen[np.argsort(candidate_age[chosen] + rng.random(pairs), kind="stable")]
    partner[seekers_by_age] = chosen_by_age
    return partner


def _partner_gap(count: int, rng: np.random.Generator, params: HouseholdParameters) -> np.ndarray:
    return rng.normal(params.partner_age_gap_mean, params.partner_age_gap_sd, count)


def _renumber(household: np.ndarray) -> np.ndarray:
    placed = household != NO_HOUSEHOLD
    result = household.copy()
    result[placed] = np.unique(household[placed], return_inverse=True)[1]
    return result


def attach_to_households(child_age: np.ndarray, pool_age: np.ndarray, pool_is_female: np.ndarray,
                         pool_household: np.ndarray, rng: np.random.Generator,
                         params: HouseholdParameters = HOUSEHOLDS) -> np.ndarray:
    """Existing household for each child: that of a woman of fitting age, else of any adult.

    Returns the household id per child (NO_HOUSEHOLD if the pool has no adult at all).
    """
    result = np.full(len(child_age), NO_HOUSEHOLD, dtype=np.int64)
    if len(child_age) == 0:
        return result
    desired = child_age + rng.normal(params.mother_age_gap_mean, params.mother_age_gap_sd, len(child_age))
    women = np.flatnonzero(pool_is_female & (pool_age >= 18))
    if len(women):
        jittered = pool_age[women] + rng.random(len(women))
        order = np.argsort(jittered, kind="stable")
        position = np.clip(np.searchsorted(jittered[order], desired), 0, len(women) - 1)
        woman = women[order[position]]
        gap = pool_age[woman] - child_age
        fits = (gap >= params.mother_age_gap_min) & (gap <= params.mother_age_gap_max)
        result[fits] = pool_household[woman[fits]]
    adults = np.flatnonzero(pool_age >= 18)
    missing = result == NO_HOUSEHOLD
    if missing.any() and len(adults):
        result[missing] = pool_household[adults[rng.integers(0, len(adults), missing.sum())]]
    return result


def describe() -> dict:
    return {"model": "rule-based (mother-child, partners, couples, shared flats, singles)", **asdict(HOUSEHOLDS)}
