"""`pr2 synth`: a generated benchmark in the LaMP-QA format where one search with the question cannot find everything.

Each user asks one question. Its 3-5 rubric aspects are facts about this user, each stated in a different post of
their profile (the aspect's evidence): their diet, budget, schedule, health, household, ... The question never
names them, and the profile also holds posts on the question's own theme that state no fact, so retrieving with
the question's words ranks those first; searching for the facet itself ("diet", "budget") finds each fact post.
Facets recur across users, their values do not: *how* to search can be learned, *what* is there cannot. Each
aspect carries a checkable fact (`fact`: the phrases an answer must state, any one of them) for the fact judge
(`--judge-mode fact`), this benchmark's own checker: never a LaMP-QA score.

`retrieval_recall` measures the property: top-k recall of the aspect posts by the question alone (low) and by one
ideal query per aspect, the facet's own words (high).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pr2.data.schema import Aspect, ProfileItem, Question

SPLIT_SHARES = (("train", 0.6), ("validation", 0.2), ("test", 0.2))


@dataclass(frozen=True)
class Facet:
    name: str
    query: str
    """The ideal query: words every post stating this facet uses, and no other post does."""
    aspect: str
    """The rubric aspect, the same for every user (what an answer must take into account)."""
    posts: tuple[str, ...]
    """How a user states it, `{value}` for their value (in words unrelated to any question)."""
    values: tuple[tuple[str, ...], ...]
    """Values: the first phrase goes in the post; any of them in an answer states the fact."""


def _amounts(amounts, currencies) -> tuple[tuple[str, ...], ...]:
    """Budget values: every amount in every currency, in words and with its sign ("35 dollars", "$35")."""
    return tuple((f"{n} {word}", f"{sign}{n}") for word, sign in currencies for n in amounts)


# Each value's phrases are specific to it: no phrase is an everyday word, and none contains another value's phrase
# (tests/data/test_synth.py checks both), so an answer states one value or lists several, never one by accident.
FACETS = (
    Facet(
        "diet",
        "diet",
        "Fits what they can eat",
        (
            "My doctor says my {value} diet is the reason my blood tests look so good now.",
            "Three years on a {value} diet and I still get asked where my protein comes from.",
            "Airports are the worst when you keep a strict {value} diet.",
        ),
        (
            ("vegetarian", "meat-free"),
            ("vegan", "plant-based"),
            ("gluten-free", "coeliac", "celiac"),
            ("dairy-free", "lactose-free", "lactose intolerant"),
            ("halal",),
            ("keto", "ketogenic"),
            ("pescatarian",),
            ("nut allergy", "nut-free"),
            ("low-sodium",),
            ("kosher",),
            ("paleo",),
            ("low-FODMAP", "fodmap"),
            ("shellfish allergy",),
            ("egg allergy", "egg-free"),
        ),
    ),
    Facet(
        "budget",
        "budget money spend",
        "Stays within their budget",
        (
            "Money is tight this year, so my budget for anything extra is {value} a month, no more.",
            "I keep a spreadsheet and my spending budget for hobbies is {value}.",
            "After rent my budget leaves about {value} to spend on fun things.",
        ),
        _amounts((15, 20, 25, 30, 35, 40, 45, 60, 70, 80, 90, 120, 150, 250), (("dollars", "$"), ("euros", "€"))),
    ),
    Facet(
        "schedule",
        "schedule shifts free time",
        "Fits their schedule",
        (
            "My work schedule is {value}, so my free time never lines up with anyone else's.",
            "New job, new schedule: {value}. My sleep is still adjusting.",
        ),
        (
            ("night shifts", "night shift"),
            ("weekends only", "only on weekends"),
            ("early mornings before 7 am", "before 7 am"),
            ("evenings after 9 pm", "after 9 pm"),
            ("Fridays off", "four-day week"),
            ("split shifts",),
            ("rotating shifts", "rotating rota"),
            ("on call every other week", "on call"),
            ("12-hour hospital shifts", "12-hour shifts", "twelve-hour shifts"),
            ("school hours only", "school hours"),
            ("two part-time jobs", "two jobs"),
            ("away for work three weeks a month", "three weeks a month"),
        ),
    ),
    Facet(
        "health",
        "health injury condition",
        "Takes their health into account",
        (
            "Health update for the forum: {value}, so I have to be careful with anything strenuous.",
            "Physio appointment again. My {value} health issue flares up when I overdo it.",
        ),
        (
            ("a bad left knee", "bad left knee", "knee injury"),
            ("asthma", "inhaler"),
            ("lower back pain",),
            ("migraines", "migraine"),
            ("a healing broken wrist", "broken wrist"),
            ("type 2 diabetes", "diabetic"),
            ("a heart condition", "heart condition", "cardiac"),
            ("tinnitus",),
            ("vertigo",),
            ("arthritis in my hands", "arthritis"),
            ("a torn rotator cuff", "rotator cuff"),
            ("sciatica",),
            ("epilepsy", "epileptic"),
            ("a hip replacement", "hip replacement"),
        ),
    ),
    Facet(
        "household",
        "household live with family",
        "Fits their household",
        (
            "Our household is {value}, which makes any plan twice as complicated.",
            "Living with {value} means the household never has a quiet hour.",
        ),
        (
            ("twin toddlers",),
            ("my elderly father", "elderly father"),
            ("three roommates", "three flatmates"),
            ("a newborn", "newborn"),
            ("two large dogs",),
            ("a partner who works nights", "partner who works nights"),
            ("a teenage son", "teenage son"),
            ("three cats",),
            ("my disabled sister", "disabled sister"),
            ("a foster child", "foster child"),
            ("a parrot", "parrot"),
            ("my in-laws", "in-laws"),
        ),
    ),
    Facet(
        "location",
        "live location climate where",
        "Fits where they live",
        (
            "Where I live, in {value}, the climate decides everything for half the year.",
            "Moved to {value} last spring; the local climate took some getting used to.",
        ),
        (
            ("northern Norway", "norway"),
            ("Phoenix, Arizona", "phoenix", "arizona"),
            ("Singapore",),
            ("rural Scotland", "scotland"),
            ("a houseboat in Amsterdam", "amsterdam"),
            ("the mountains of Colorado", "colorado"),
            ("Reykjavik", "iceland"),
            ("Mumbai",),
            ("Dubai",),
            ("Anchorage, Alaska", "anchorage", "alaska"),
            ("Helsinki", "finland"),
            ("Cape Town",),
            ("Hong Kong",),
            ("Montreal", "quebec"),
        ),
    ),
    Facet(
        "space",
        "space room apartment",
        "Fits the space they have",
        (
            "The apartment is {value}, so space is always the first problem.",
            "Still no extra room: {value}. Every square metre of space counts.",
        ),
        (
            ("a studio with no oven", "studio with no oven", "no oven"),
            ("a third-floor walk-up with no lift", "walk-up", "no lift"),
            ("a shared room in a dorm", "dorm room", "shared room"),
            ("a tiny balcony and no garden", "tiny balcony"),
            ("a garage I turned into a workshop", "garage workshop", "converted garage"),
            ("a camper van", "camper van"),
            ("a basement flat with no windows", "basement flat"),
            ("a static caravan", "static caravan", "caravan"),
            ("a narrowboat", "narrowboat"),
            ("a loft with thin walls", "thin walls"),
            ("a tiny house on wheels", "tiny house"),
        ),
    ),
    Facet(
        "experience",
        "experience beginner years",
        "Matches their experience",
        (
            "For context on my experience: {value}.",
            "People assume more experience than I have; honestly, {value}.",
        ),
        (
            ("a complete beginner", "complete beginner"),
            ("ten years in and fairly advanced", "ten years in", "fairly advanced"),
            ("restarting after a decade away", "restarting after a decade"),
            ("self-taught from videos", "self-taught"),
            ("I took lessons as a child", "lessons as a child"),
            ("semi-professional", "semi-pro"),
            ("only two months in", "two months in"),
            ("I only know the basics from school", "basics from school"),
            ("intermediate but stuck on a plateau", "stuck on a plateau"),
            ("I used to teach it", "used to teach it"),
        ),
    ),
)

HELDOUT_VALUE_SHARE = 0.4
"""The share of each facet's values that only held-out (validation and test) users have; training users have the
rest. A held-out user's facts therefore appear in no training profile or aspect: what is there cannot be memorised,
only how to find it (facet words and post shapes recur in every split)."""


@dataclass(frozen=True)
class Topic:
    category: str
    question: str
    facets: tuple[str, ...]
    """The facets that matter to this question (3-5 are drawn per user)."""
    near: tuple[str, ...]
    """Posts on the question's own theme that state none of the facets (they outrank the fact posts for a search
    with the question's words)."""


TOPICS = (
    Topic(
        "Lifestyle_and_Personal_Development",
        "What should I cook for dinners this week?",
        ("diet", "budget", "schedule", "household", "space", "health"),
        (
            "What should I cook when the fridge is nearly empty? Dinners this week were cereal.",
            "Is it worth cooking big batches on Sunday for the week's dinners?",
            "I want to cook dinners that taste like my grandmother's.",
            "Which cookbook teaches weeknight dinners without fuss?",
            "Cooking dinner for one feels pointless. How do you stay motivated this week and every week?",
            "Tried to cook a risotto for dinner and it turned to glue.",
        ),
    ),
    Topic(
        "Lifestyle_and_Personal_Development",
        "How should I start exercising to get fit?",
        ("health", "schedule", "budget", "space", "experience", "location"),
        (
            "Is exercising every day necessary to get fit, or is three times enough?",
            "I want to start exercising but I get bored of routines after a week.",
            "Which exercising apps actually help you get fit?",
            "How long until exercising makes you feel fit?",
            "Should I start exercising with cardio or strength?",
            "Friends who are fit: how did you start and keep exercising?",
        ),
    ),
    Topic(
        "Lifestyle_and_Personal_Development",
        "How can I plan a relaxing holiday trip?",
        ("budget", "household", "health", "diet", "schedule"),
        (
            "Do you plan every day of a holiday trip or improvise?",
            "My last holiday trip was anything but relaxing: four cities in five days.",
            "How far ahead should I plan a trip for a holiday?",
            "Is a relaxing holiday trip by train better than flying?",
            "What makes a holiday feel relaxing to you?",
            "Looking for a planning template for a trip.",
        ),
    ),
    Topic(
        "Art_and_Entertainment",
        "Which musical instrument should I learn to play?",
        ("budget", "space", "experience", "schedule", "household", "health"),
        (
            "Is it true that learning a musical instrument as an adult is harder?",
            "Which instrument is easiest to learn to play by ear?",
            "I want to play music with friends; what instrument fits a band?",
            "How many minutes a day should I practise an instrument to learn it?",
            "Learning to play an instrument from apps or from a teacher?",
            "The musical instrument shop let me try five instruments and I loved them all.",
        ),
    ),
    Topic(
        "Art_and_Entertainment",
        "What creative hobby should I pick up?",
        ("budget", "space", "schedule", "experience", "health", "household"),
        (
            "I want a creative hobby that isn't on a screen.",
            "Which creative hobby gives you something to show for it?",
            "Pick up pottery, painting or knitting as a creative hobby?",
            "My creative hobby phase never lasts more than a month.",
            "Is a hobby still creative if you follow tutorials?",
            "Hobby ideas that are creative and social?",
        ),
    ),
    Topic(
        "Art_and_Entertainment",
        "How can I get better at photography?",
        ("budget", "experience", "location", "schedule", "health"),
        (
            "Does better photography come from the camera or the eye?",
            "How do I get better at photography composition?",
            "Photography critique groups: worth it to get better?",
            "Best photography books for learning light?",
            "I take photography walks but every shot looks flat.",
            "Is phone photography enough to get better?",
        ),
    ),
    Topic(
        "Society_and_Culture",
        "How should I host a gathering for my friends?",
        ("budget", "space", "diet", "household", "schedule"),
        (
            "What makes a gathering with friends feel easy rather than staged?",
            "How many friends is too many to host?",
            "Games to play when you host a gathering?",
            "I host friends often and always forget something.",
            "How early should I invite friends to a gathering?",
            "Potluck or cook it all yourself when you host?",
        ),
    ),
    Topic(
        "Society_and_Culture",
        "How can I meet new people in my area?",
        ("schedule", "location", "household", "budget", "health"),
        (
            "Is it harder to meet new people after thirty?",
            "Apps for meeting new people in your area: any good?",
            "I meet new people at work but never outside it.",
            "Volunteering to meet people: does it work?",
            "How do you turn people you meet once into friends?",
            "Clubs in my area all seem to be for students.",
        ),
    ),
    Topic(
        "Society_and_Culture",
        "How should I celebrate my birthday this year?",
        ("budget", "diet", "household", "location", "schedule"),
        (
            "Birthday ideas that aren't just dinner out?",
            "I never know how to celebrate my birthday without feeling awkward.",
            "Is a quiet birthday a sad birthday?",
            "How did you celebrate your best birthday?",
            "Planning to celebrate a birthday on a weekday: tips?",
            "This year I want to celebrate properly for once.",
        ),
    ),
)

DISTRACTORS = (
    "My car squeals when turning in cold weather.",
    "Best way to fold a fitted sheet?",
    "How often should I water a snake plant?",
    "The printer at the library jams every single time.",
    "Anyone know why my phone battery drains overnight?",
    "Finished a 1000-piece puzzle of a lighthouse.",
    "Why do cats knock things off tables?",
    "My neighbour's wind chime is driving me mad.",
    "Recommend a podcast about ancient history?",
    "Lost my umbrella on the bus again.",
    "How do you get candle wax out of a carpet?",
    "Watching the moon landing footage with my nephew.",
    "Is it normal for a laptop fan to be this loud?",
    "Learned to juggle three balls after a month.",
    "Trying to memorise the periodic table for fun.",
    "The crossword today had a clue about volcanoes.",
    "Which browser uses the least memory?",
    "Found a 1970s postcard in a second-hand book.",
    "My tomato seedlings are leggy and pale.",
    "How do I remove rust from old scissors?",
    "Spent the afternoon sorting screws by size.",
    "Anyone else hear thunder and count the seconds?",
    "What is the best way to clean a keyboard?",
    "My sourdough starter smells like nail polish.",
    "Looking for a film with a twist ending.",
    "Our street got new lamps and they are very bright.",
    "Is chess boxing a real sport?",
    "The washing machine shakes across the floor.",
    "I counted 40 pigeons on the square this morning.",
    "Which pen does not smudge for left-handed writing?",
    "How do you say no to a group chat?",
    "Replaced a bike chain for the first time.",
    "Why does my kettle have white flakes?",
    "Trying to learn the names of constellations.",
    "Our smoke alarm chirps at 3 am.",
    "Recommend a board game for two players?",
    "The lift in our office has been broken for weeks.",
    "Fixed a squeaky door hinge with soap.",
    "How do you keep glasses from fogging up?",
    "Saw a fox in the park at dusk.",
    "Is it worth repairing a 10-year-old vacuum?",
    "My handwriting has become unreadable.",
    "Reorganised my bookshelf by colour.",
    "What is the oldest joke anyone knows?",
    "The train announcements here are always too quiet.",
    "Does anyone still use a paper map?",
    "Why is my bread always dense in the middle?",
    "Built a birdhouse from an old drawer.",
    "How do I stop my headphones tangling?",
    "The museum has a new exhibit on clocks.",
    "My calendar app deleted a month of entries.",
    "Which houseplant survives a dark corridor?",
    "Learning to whistle with two fingers.",
    "Our kettle and toaster trip the fuse together.",
    "Found out my grandmother was a typist.",
    "How do you sharpen a pencil with a knife?",
    "The river is higher than I have ever seen it.",
    "Any tips for taking apart a stuck jar lid?",
    "I collect bottle caps from different countries.",
    "Why do some clocks tick louder at night?",
)


@dataclass(frozen=True)
class SynthConfig:
    """What `pr2 synth` generates."""

    users: int = 300
    """Users, one question each (split 60/20/20 by user)."""
    seed: int = 0
    """The same seed gives the same benchmark."""
    min_aspects: int = 3
    """Fewest rubric aspects (facts, each in its own post) per question."""
    max_aspects: int = 5
    """Most rubric aspects per question (at most the facets its topic has)."""
    min_distractors: int = 20
    """Fewest posts that state no fact (on-theme ones included)."""
    max_distractors: int = 60
    """Most posts that state no fact."""


def _facet(name: str) -> Facet:
    return next(f for f in FACETS if f.name == name)


def facet_of(name: str) -> Facet | None:
    """The catalogue's facet of that name (the fact judge reads every value of it), or None."""
    return next((f for f in FACETS if f.name == name), None)


def value_pools(seed: int) -> dict[str, dict[str, tuple[tuple[str, ...], ...]]]:
    """Each facet's values split in two, by the benchmark's seed: {"train": {facet: values}, "heldout": {...}}."""
    rng = random.Random(f"values-{seed}")
    pools: dict[str, dict] = {"train": {}, "heldout": {}}
    for facet in FACETS:
        values = list(facet.values)
        rng.shuffle(values)
        held = max(2, round(HELDOUT_VALUE_SHARE * len(values)))
        pools["heldout"][facet.name], pools["train"][facet.name] = tuple(values[:held]), tuple(values[held:])
    return pools


def make_user(index: int, rng: random.Random, config: SynthConfig, values: dict | None = None) -> Question:
    """One user; `values` (facet -> values) is the pool of their split (default: every value)."""
    topic = TOPICS[index % len(TOPICS)]
    k = rng.randint(config.min_aspects, min(config.max_aspects, len(topic.facets)))
    facets = rng.sample(topic.facets, k)
    qid = f"synth-{index}"
    profile: list[ProfileItem] = []
    aspects: list[Aspect] = []
    facts = []
    for name in facets:
        facet = _facet(name)
        value = rng.choice((values or {}).get(name) or facet.values)
        pid = f"{qid}-{facet.name}"
        profile.append(ProfileItem(pid, rng.choice(facet.posts).format(value=value[0])))
        facts.append(f"{facet.name}: {value[0]}")
        aspects.append(
            Aspect(
                facet.aspect,
                f"They mentioned their {facet.name}: {value[0]}.",
                value[0],
                extra={"fact": {"phrases": list(value), "post": pid, "facet": facet.name}},
            )
        )
    near = rng.sample(topic.near, len(topic.near))
    profile += [ProfileItem(f"{qid}-near-{i}", text) for i, text in enumerate(near)]
    n = rng.randint(config.min_distractors, config.max_distractors) - len(near)
    profile += [ProfileItem(f"{qid}-other-{i}", t) for i, t in enumerate(rng.sample(DISTRACTORS, max(0, n)))]
    rng.shuffle(profile)
    narrative = f"{topic.question} What matters about this person: " + "; ".join(facts) + "."
    return Question(
        qid, topic.question, narrative, profile, aspects, category=topic.category, extra={"synthetic": True}
    )


def check_config(config: SynthConfig) -> None:
    """A one-line error for settings that cannot make every split (each needs at least one user per topic's turn)."""
    from pr2.errors import PR2Error

    if config.users < len(SPLIT_SHARES) * 5:
        raise PR2Error(
            f"pr2 synth: --users {config.users} cannot make the train/validation/test splits "
            f"(shares {', '.join(f'{s} {share:.0%}' for s, share in SPLIT_SHARES)}); give at least "
            f"{len(SPLIT_SHARES) * 5}"
        )
    if not 1 <= config.min_aspects <= config.max_aspects:
        raise PR2Error(
            f"pr2 synth: aspects per user must satisfy 1 <= min ({config.min_aspects}) <= max ({config.max_aspects})"
        )
    if not 0 <= config.min_distractors <= config.max_distractors:
        raise PR2Error(
            f"pr2 synth: distractors per user must satisfy 0 <= min ({config.min_distractors}) <= max "
            f"({config.max_distractors})"
        )


def generate(config: SynthConfig) -> dict[str, list[Question]]:
    """Users split 60/20/20 into train/validation/test (every user in exactly one split); training users take their
    facts from the training half of each facet's values, validation and test users from the held-out half."""
    check_config(config)
    rng = random.Random(config.seed)
    pools = value_pools(config.seed)
    order = list(range(config.users))
    rng.shuffle(order)
    split_of: dict[int, str] = {}
    start = 0
    for i, (split, share) in enumerate(SPLIT_SHARES):
        end = config.users if i == len(SPLIT_SHARES) - 1 else start + round(share * config.users)
        split_of.update((j, split) for j in order[start:end])
        start = end
    splits: dict[str, list[Question]] = {split: [] for split, _ in SPLIT_SHARES}
    for j in range(config.users):
        split = split_of[j]
        q = make_user(j, rng, config, pools["train" if split == "train" else "heldout"])
        q.split = split
        splits[split].append(q)
    problems = filler_leaks([q for qs in splits.values() for q in qs])
    if problems:  # a catalogue edit that lets a distractor state a fact: never ship such a benchmark
        raise AssertionError(f"pr2 synth: {len(problems)} posts that should state no fact do: {problems[:3]}")
    return splits


def filler_leaks(questions: Sequence[Question]) -> list[tuple[str, str, str]]:
    """(question id, post id, phrase) for every distractor or on-theme post that states a fact phrase of any facet
    (whole words, as the fact judge reads them): such a post would hand out facts that need no search."""
    import re

    phrases = (re.escape(p.lower()) for facet in FACETS for value in facet.values for p in value)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(phrases) + r")(?!\w)")  # one lookbehind: 40x faster than one each
    found = []
    for q in questions:
        facts = {a.extra.get("fact", {}).get("post") for a in q.rubric_aspects}
        for post in q.profile:
            if post.id not in facts:
                m = pattern.search(post.text.lower())
                if m:
                    found.append((q.id, post.id, m.group(0)))
    return found


def write_benchmark(config: SynthConfig, output: str | Path) -> list[Path]:
    """The benchmark's layout ({category}_{split}.json) plus one prepared {split}.jsonl per split."""
    from pr2.data.io import write_questions
    from pr2.data.lamp_qa import CATEGORIES

    out = Path(output)
    written = []
    for split, questions in generate(config).items():
        for category in CATEGORIES:
            path = out / f"{category}_{split}.json"
            write_questions(path, [q for q in questions if q.category == category])
            written.append(path)
        path = out / f"{split}.jsonl"
        write_questions(path, [q.tagged() for q in questions])
        written.append(path)
    return written


def retrieval_recall(questions: Sequence[Question], retriever, k: int = 5) -> dict[str, float]:
    """Top-k recall of the aspect posts: by the question alone (one search), and by one ideal query per aspect
    (the facet's own words, each query scored on its own). `retriever`: any pr2 retriever (the data layer takes it
    as given). One scoring call: a post shared by many profiles is encoded once."""
    queries, profiles, wanted = [], [], []
    for q in questions:
        texts = [p.text for p in q.profile]
        posts = [a.extra["fact"]["post"] for a in q.rubric_aspects]
        queries.append(q.question)
        profiles.append(texts)
        wanted.append(("question", q, posts))
        for a, post in zip(q.rubric_aspects, posts, strict=True):
            queries.append(_facet(a.extra["fact"]["facet"]).query)
            profiles.append(texts)
            wanted.append(("ideal", q, [post]))
    found = {"question": 0, "ideal": 0}
    for scores, (kind, q, posts) in zip(retriever.score_many(queries, profiles), wanted, strict=True):
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")  # ties in profile order
        top = {q.profile[i].id for i in order[:k]}
        found[kind] += sum(p in top for p in posts)
    total = sum(len(q.rubric_aspects) for q in questions)
    return {kind: n / total for kind, n in found.items()}
