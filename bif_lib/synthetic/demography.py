"""Parametric demographic schedules of the synthetic register.

Nothing here is published data of a city: these are documented model assumptions that only
shape the *distribution inside* the published totals (single years of age, sex, who dies, who
moves, which woman is the mother). Every parameter is listed in :func:`describe` and so ends up
in ``SyntheticRegister.assumptions``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

OLDEST_AGE = 104  # nobody gets older (the life table closes); the register's open age class is 100 (= 100+)

SEX_RATIO_AT_BIRTH = 1.05  # boys per girl, the usual human value (Germany: 1.05–1.06)
MALE_SHARE_AT_BIRTH = SEX_RATIO_AT_BIRTH / (1.0 + SEX_RATIO_AT_BIRTH)


@dataclass(frozen=True)
class GompertzMakeham:
    """Hazard mu(x) = makeham + a * exp(b * x) for ages >= 1; age 0 uses ``infant_death_probability``."""

    a: float
    b: float
    makeham: float
    infant_death_probability: float

    def death_probability(self, age: np.ndarray) -> np.ndarray:
        """Probability of dying within the year of age [age, age + 1); the table closes at OLDEST_AGE."""
        age = np.asarray(age, dtype=float)
        cumulative_hazard = self.makeham + self.a * np.exp(self.b * age) * np.expm1(self.b) / self.b
        q = -np.expm1(-cumulative_hazard)
        return np.select([age < 1, age > OLDEST_AGE], [self.infant_death_probability, 1.0], q)

    def survivorship(self, age: np.ndarray) -> np.ndarray:
        """Share of a birth cohort still alive at exact age ``age`` (stationary-population weight)."""
        age = np.asarray(age, dtype=float)
        adult_age = np.maximum(age - 1.0, 0.0)
        hazard_after_one = (self.makeham * adult_age
                            + self.a / self.b * (np.exp(self.b * np.maximum(age, 1.0)) - np.exp(self.b)))
        return np.where(age < 1, 1.0, (1.0 - self.infant_death_probability) * np.exp(-hazard_after_one))


# Gompertz a, b fitted (log-linear least squares, ages 60–95, where nearly all deaths occur) to
# the rounded death probabilities of the German period life table 2019/2021 (Destatis): men
# q60 ≈ 0.0096, q80 ≈ 0.055, q90 ≈ 0.17, q95 ≈ 0.28; women q60 ≈ 0.0051, q80 ≈ 0.037,
# q90 ≈ 0.14, q95 ≈ 0.24. The fit stays within ±16 % of those values at 60–95. Makeham terms
# (background mortality of younger ages) and infant mortality are rounded German orders of magnitude.
MORTALITY = {
    "m": GompertzMakeham(a=1.89e-5, b=0.101, makeham=3.0e-4, infant_death_probability=0.0035),
    "w": GompertzMakeham(a=3.91e-6, b=0.1155, makeham=1.5e-4, infant_death_probability=0.0030),
}


def death_probability(age: np.ndarray, is_female: np.ndarray) -> np.ndarray:
    """One-year death probability by completed age and sex."""
    return np.where(is_female, MORTALITY["w"].death_probability(age), MORTALITY["m"].death_probability(age))


def male_share(age: np.ndarray) -> np.ndarray:
    """Expected share of men at ``age``: sex ratio at birth thinned by sex-specific survival.

    Gives ~51 % men among children, parity around 55–60 and a clear female majority at
    old ages (~43 % men at 80, ~35 % at 90), as in German population statistics.
    """
    men = MALE_SHARE_AT_BIRTH * MORTALITY["m"].survivorship(age)
    women = (1.0 - MALE_SHARE_AT_BIRTH) * MORTALITY["w"].survivorship(age)
    return men / (men + women)


@dataclass(frozen=True)
class FertilitySchedule:
    """Relative fertility by mother's age: a normal curve truncated to the reproductive ages.

    Mean and spread approximate German births (Destatis: mean age of mothers at birth ~31.5 years
    around 2020). Only the shape matters: the number of births per district is published.
    """

    mean_age: float = 31.5
    sd: float = 5.3
    youngest: int = 15
    oldest: int = 49

    def weight(self, age: np.ndarray) -> np.ndarray:
        age = np.asarray(age, dtype=float)
        inside = (age >= self.youngest) & (age <= self.oldest)
        return np.where(inside, np.exp(-0.5 * ((age - self.mean_age) / self.sd) ** 2), 0.0)


FERTILITY = FertilitySchedule()


@dataclass(frozen=True)
class RogersCastro:
    """Rogers–Castro model migration schedule (childhood, labour-force/student peak, constant).

    m(x) = childhood * exp(-childhood_decline * x)
           + peak * exp(-peak_decline * (x - peak_age) - exp(-peak_rise * (x - peak_age)))
           + constant
    The peak sits at ~21–23 years for a university town (the model's default);
    the absolute level is scaled separately (see :class:`MigrationVolumes`).
    """

    childhood: float = 0.02
    childhood_decline: float = 0.10
    peak: float = 0.10
    peak_age: float = 19.0
    peak_decline: float = 0.12
    peak_rise: float = 0.5
    constant: float = 0.004

    def propensity(self, age: np.ndarray) -> np.ndarray:
        x = np.asarray(age, dtype=float)
        shifted = x - self.peak_age
        return (self.childhood * np.exp(-self.childhood_decline * x)
                + self.peak * np.exp(-self.peak_decline * shifted - np.exp(-self.peak_rise * shifted))
                + self.constant)


# University town: people arrive at ~21 (start of studies), leave at ~24–25 (after graduating)
# and change district most often in their mid-twenties (first job, couple, family).
ARRIVAL_AGE_PROFILE = RogersCastro(peak_age=18.0, peak_rise=0.8)  # steep rise: few minors alone
DEPARTURE_AGE_PROFILE = RogersCastro(peak_age=21.5)
DISTRICT_CHANGE_AGE_PROFILE = RogersCastro(peak_age=22.0, peak_decline=0.09)


@dataclass(frozen=True)
class MigrationVolumes:
    """Gross yearly mobility before calibration (no city publishes it with its totals).

    Orders of magnitude of a German university town of ~100k: about 8 % of the residents leave
    the city per year and about 5 % change district; non-German households are more mobile.
    Moves into the city are not a parameter: they follow from the published residents.
    Young adults living with a parent (18–34, a household member at least 16 years older) move on
    their own; those who do not leave the city or district found their own household in the
    district with ``home_leaving_rate`` per year (no event: the district does not change).
    """

    leave_city_share: float = 0.08
    change_district_share: float = 0.05
    non_german_mobility_factor: float = 1.5
    home_leaving_rate: float = 0.2
    adult_child_ages: tuple[int, int] = (18, 34)
    parent_generation_gap: int = 16


MIGRATION = MigrationVolumes()


# Live births in Germany (today's territory, millions, rounded; Destatis). Used only as relative
# cohort sizes when spreading the first extract's published age groups over single years of age
# (baby boom of the 1960s, "pill dip" of the 1970s, ...).
GERMAN_LIVE_BIRTHS_MILLIONS = {
    1905: 1.3, 1915: 0.9, 1918: 0.85, 1920: 1.5, 1925: 1.3, 1930: 1.15, 1933: 0.97, 1936: 1.28, 1939: 1.41,
    1942: 1.06, 1945: 0.80, 1946: 0.92, 1950: 1.12, 1955: 1.11, 1960: 1.26, 1964: 1.36,
    1967: 1.29, 1970: 1.05, 1973: 0.82, 1975: 0.78, 1980: 0.87, 1985: 0.81, 1990: 0.91,
    1995: 0.77, 2000: 0.77, 2005: 0.69, 2010: 0.68, 2015: 0.74, 2016: 0.79, 2020: 0.77,
    2022: 0.74,
}

# Extra young adults of a university town on top of the cohort/survival profile of the first
# extract: relative excess at the peak age (a Gaussian bump).
STUDENT_EXCESS = 1.0
STUDENT_PEAK_AGE = 22.5
STUDENT_SPREAD = 3.5


def cohort_size(birth_year: np.ndarray) -> np.ndarray:
    years = np.array(sorted(GERMAN_LIVE_BIRTHS_MILLIONS))
    births = np.array([GERMAN_LIVE_BIRTHS_MILLIONS[y] for y in years])
    return np.interp(birth_year, years, births)


def initial_age_weights(age: np.ndarray, year: int) -> np.ndarray:
    """Relative number of residents per single year of age in the first extract."""
    age = np.asarray(age, dtype=float)
    survival = 0.5 * (MORTALITY["m"].survivorship(age) + MORTALITY["w"].survivorship(age))
    students = 1.0 + STUDENT_EXCESS * np.exp(-(((age - STUDENT_PEAK_AGE) / STUDENT_SPREAD) ** 2))
    return cohort_size(year - age) * survival * students


def in_migrant_age_weights(age: np.ndarray) -> np.ndarray:
    """Relative number of people moving into the city per single year of age."""
    age = np.asarray(age, dtype=float)
    survival = 0.5 * (MORTALITY["m"].survivorship(age) + MORTALITY["w"].survivorship(age))
    return ARRIVAL_AGE_PROFILE.propensity(age) * survival


# Mean years already lived at the current address, by age of the household's oldest member
# (first extract only): short for students, long for older residents.
# Capped at the years since the oldest member turned 18 (at least one year).
RESIDENCE_YEARS_AT_18 = 2.0
RESIDENCE_YEARS_PER_YEAR_OF_AGE = 0.3


def mean_residence_years(age: np.ndarray) -> np.ndarray:
    return RESIDENCE_YEARS_AT_18 + RESIDENCE_YEARS_PER_YEAR_OF_AGE * np.maximum(np.asarray(age) - 18, 0)


def longest_residence_years(age: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(age) - 18, 1)


# Non-German residents are younger than Germans (Germany: median age ~37 vs ~47 years): relative
# chance of a person of an age band to be non-German, given the district's non-German total.
NON_GERMAN_AGE_WEIGHTS = ((0, 1.0), (18, 2.5), (45, 1.2), (65, 0.4))  # (lowest age, weight)
# Newborns of a non-German mother who are German by birth (ius soli, § 4 (3) StAG, or a German
# father); rough assumption.
GERMAN_AT_BIRTH_SHARE_OF_NON_GERMAN_MOTHERS = 0.4


def non_german_weight(age: np.ndarray) -> np.ndarray:
    lower_ages, weights = zip(*NON_GERMAN_AGE_WEIGHTS, strict=True)
    return np.asarray(weights)[np.searchsorted(lower_ages, np.asarray(age), side="right") - 1]


def describe() -> dict:
    """The schedules' parameters as JSON-serialisable assumptions."""
    return {
        "oldest_age_generated": OLDEST_AGE,
        "sex_ratio_at_birth": SEX_RATIO_AT_BIRTH,
        "mortality": {
            "model": "Gompertz-Makeham, q(x) = 1 - exp(-(makeham + a e^(b x) (e^b - 1) / b)); "
                     "age 0: infant_death_probability",
            "by_sex": {sex: asdict(params) for sex, params in MORTALITY.items()},
            "source": "fitted to rounded death probabilities of the German period life table 2019/2021 "
                      "(Destatis) at ages 60-95; not city-specific; everybody dies before turning "
                      f"{OLDEST_AGE + 1}",
        },
        "sex_by_age": "male share = 1.05/2.05 at birth thinned by the sex-specific survivorship of the "
                      "mortality model (first extract and people moving in)",
        "fertility": {
            **asdict(FERTILITY),
            "shape": "normal curve in mother's age, truncated to 15-49; mothers are drawn with these weights "
                     "among the women of the district",
        },
        "migration_age_profiles": {
            "model": "Rogers-Castro (relative propensity; level set by migration_volumes / the targets)",
            "moving_in": asdict(ARRIVAL_AGE_PROFILE),
            "leaving_the_city": asdict(DEPARTURE_AGE_PROFILE),
            "changing_district": asdict(DISTRICT_CHANGE_AGE_PROFILE),
            "unit": "household (or young adult living with a parent), by the age of its oldest member",
        },
        "migration_volumes": asdict(MIGRATION),
        "initial_age_profile": {
            "within_published_age_group": "German live births of the cohort x survivorship x student bump",
            "german_live_births_millions": {str(k): v for k, v in GERMAN_LIVE_BIRTHS_MILLIONS.items()},
            "student_excess": STUDENT_EXCESS,
            "student_peak_age": STUDENT_PEAK_AGE,
            "student_spread": STUDENT_SPREAD,
        },
        "non_german_age_weights": [list(pair) for pair in NON_GERMAN_AGE_WEIGHTS],
        "german_at_birth_share_of_non_german_mothers": GERMAN_AT_BIRTH_SHARE_OF_NON_GERMAN_MOTHERS,
        "residence_duration_first_extract": {
            "distribution": "exponential per household, capped at max(oldest member's age - 18, 1) years",
            "mean_years": f"{RESIDENCE_YEARS_AT_18} + {RESIDENCE_YEARS_PER_YEAR_OF_AGE} * (oldest member's age - 18)",
        },
    }
