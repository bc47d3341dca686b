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
            ("vegetarian", "no meat", "meat-free"),
            ("vegan", "plant-based", "no animal products"),
            ("gluten-free", "no gluten", "coeliac", "celiac"),
            ("dairy-free", "lactose", "no dairy"),
            ("halal",),
            ("keto", "low-carb", "low carb"),
            ("pescatarian", "fish but no meat"),
            ("nut-free", "nut allergy", "no nuts"),
            ("low-sodium", "low salt", "no salt"),
            ("kosher",),
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
        (
            ("20 dollars", "$20", "twenty dollars"),
            ("50 euros", "€50", "fifty euros"),
            ("100 pounds", "£100", "a hundred pounds"),
            ("30 dollars", "$30", "thirty dollars"),
            ("200 dollars", "$200", "two hundred dollars"),
            ("15 euros", "€15", "fifteen euros"),
            ("75 dollars", "$75", "seventy-five dollars"),
            ("40 pounds", "£40", "forty pounds"),
        ),
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
            ("night shifts", "nights", "overnight"),
            ("weekends only", "only on weekends", "saturdays and sundays"),
            ("early mornings before 7", "before 7", "early morning"),
            ("evenings after 9 pm", "after 9", "late evening"),
            ("Fridays off", "friday", "four-day week"),
            ("split shifts", "lunchtime break", "midday"),
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
            ("a bad left knee", "knee", "low-impact"),
            ("asthma", "inhaler", "breathing"),
            ("lower back pain", "back pain", "lower back"),
            ("migraines", "migraine", "headaches"),
            ("a healing broken wrist", "wrist", "broken wrist"),
            ("type 2 diabetes", "diabetes", "blood sugar"),
            ("a heart condition", "heart", "cardiac"),
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
            ("twin toddlers", "toddlers", "twins"),
            ("my elderly father", "father", "elderly parent"),
            ("three roommates", "roommates", "flatmates"),
            ("a newborn", "newborn", "baby"),
            ("two large dogs", "dogs", "dog"),
            ("a partner who works nights", "partner", "works nights"),
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
            ("northern Norway", "norway", "arctic"),
            ("Phoenix, Arizona", "phoenix", "arizona", "desert"),
            ("Singapore", "singapore", "tropical"),
            ("rural Scotland", "scotland", "rural"),
            ("a houseboat in Amsterdam", "houseboat", "amsterdam"),
            ("the mountains of Colorado", "colorado", "altitude"),
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
            ("a studio with no oven", "no oven", "studio"),
            ("a third-floor walk-up with no lift", "walk-up", "stairs", "no lift"),
            ("a shared room in a dorm", "dorm", "shared room"),
            ("a tiny balcony and no garden", "balcony", "no garden"),
            ("a garage I turned into a workshop", "garage", "workshop"),
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
            ("a complete beginner", "beginner", "starting from scratch"),
            ("ten years in, fairly advanced", "advanced", "ten years"),
            ("I dropped it for a decade and I'm restarting", "restarting", "returning"),
            ("self-taught from videos", "self-taught", "videos"),
        ),
    ),
)


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


def make_user(index: int, rng: random.Random, config: SynthConfig) -> Question:
    topic = TOPICS[index % len(TOPICS)]
    k = rng.randint(config.min_aspects, min(config.max_aspects, len(topic.facets)))
    facets = rng.sample(topic.facets, k)
    qid = f"synth-{index}"
    profile: list[ProfileItem] = []
    aspects: list[Aspect] = []
    facts = []
    for name in facets:
        facet = _facet(name)
        value = rng.choice(facet.values)
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


def generate(config: SynthConfig) -> dict[str, list[Question]]:
    """Users split 60/20/20 into train/validation/test (every user in exactly one split)."""
    rng = random.Random(config.seed)
    users = [make_user(i, rng, config) for i in range(config.users)]
    order = list(range(config.users))
    rng.shuffle(order)
    splits: dict[str, list[Question]] = {}
    start = 0
    for i, (split, share) in enumerate(SPLIT_SHARES):
        end = config.users if i == len(SPLIT_SHARES) - 1 else start + round(share * config.users)
        chosen = sorted(order[start:end])
        splits[split] = [users[j] for j in chosen]
        for q in splits[split]:
            q.split = split
        start = end
    return splits


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
