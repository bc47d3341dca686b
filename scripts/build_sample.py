"""Writes the bundled sample dataset (src/pr2/data/sample/) from the hand-written content below.

The sample is SYNTHETIC: invented users, questions and posts in the LaMP-QA format, written so that each user's
profile holds evidence (their tools, constraints, tastes, history) that a personalized answer should use and a
generic answer would miss. Each profile mixes those relevant posts with off-topic posts from a shared pool.

Run: python scripts/build_sample.py   (deterministic; the output is committed)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "pr2" / "data" / "sample"

# Off-topic posts a user may also have written; each profile gets a different deterministic subset.
DISTRACTORS = [
    (
        "Best way to store fresh basil?",
        "Every bunch I buy turns black in the fridge within two days. Should it sit in water on the counter instead?",
    ),
    (
        "Car makes a squeal when turning the wheel",
        "Only at low speed in parking lots, and only when it is cold outside. Power steering fluid looks fine.",
    ),
    (
        "Python list comprehension vs map",
        "Is there any real speed difference between a comprehension and map with a lambda for simple transforms?",
    ),
    (
        "How often should I water a snake plant?",
        "Mine sits by a north window and the lower leaves are getting soft and yellow.",
    ),
    ("Cheap flights to Lisbon in spring", "Are mid-week flights actually cheaper or is that a myth these days?"),
    ("Sourdough starter smells like nail polish remover", "It is about ten days old. Is it dead, or just hungry?"),
    (
        "Replacing a bathroom faucet cartridge",
        "The handle is stiff and it drips. Do I need to shut off the main water or just the valves under the sink?",
    ),
    ("Which running shoes for flat feet?", "I overpronate a lot and my knees ache after 5 km."),
    (
        "Laptop fan constantly spinning",
        "Even when idle the fan runs loud. Task manager shows nothing big. Is repasting worth it?",
    ),
    (
        "Removing wine stains from a cotton tablecloth",
        "Red wine, dried overnight. Salt did nothing. What actually works?",
    ),
    (
        "Is it worth learning Rust after Go?",
        "I write backend services in Go at work and wonder if Rust would teach me something new.",
    ),
    (
        "Dog pulls on the leash only near other dogs",
        "Otherwise she walks fine. Treats do not work once she sees another dog.",
    ),
    ("How to fold a fitted sheet", "I have watched videos and still end up with a ball of fabric."),
    (
        "Tomato seedlings getting leggy",
        "They are under a window and stretching toward the light. Too late to save them?",
    ),
    ("Spreadsheet formula to count unique values", "I need the number of distinct names in a column that has blanks."),
    (
        "Does cast iron really need seasoning after every use?",
        "I wash mine with a little soap and dry it on the stove.",
    ),
    (
        "Bike chain keeps slipping in the highest gear",
        "Chain is about two years old. Is it the chain, the cassette or the derailleur?",
    ),
    ("Best budget mechanical keyboard switches", "I type a lot and the office has an open plan, so nothing too loud."),
    ("Kids' birthday party ideas for a small apartment", "Eight five-year-olds, two hours, and no garden."),
    ("Why does my rice always turn out mushy?", "Rinsed, 1:2 ratio, lid on. Still sticky and wet."),
    ("How to negotiate rent renewal", "Landlord wants a 12% increase. Comparable places nearby are a bit cheaper."),
    ("Tips for reading on a phone without eye strain", "I read a lot of long articles at night."),
    (
        "Mold on the bathroom ceiling",
        "It comes back every winter no matter how much I scrub. There is an extractor fan.",
    ),
    ("Is a dehumidifier worth it in a basement?", "The basement smells musty in summer and the walls feel damp."),
    ("Choosing between two job offers", "One pays more, the other has a shorter commute and a better team."),
    ("Hiking boots vs trail runners for day hikes", "Mostly dry trails, up to 15 km, some rocky sections."),
    ("What oil for a deep fryer?", "I want something neutral that I can reuse a few times."),
    ("Fixing a squeaky wooden floor", "One board squeaks in the hallway. Carpet is not an option."),
    ("How to start composting on a balcony", "No garden, small balcony, worried about smell and flies."),
    ("Recommended password manager for a family", "Need sharing between four people on different phones."),
    ("Painting a room: one coat or two?", "Going from light grey to white with a decent paint."),
    ("Why do my cookies spread so much?", "They come out thin and crispy instead of thick and chewy."),
    ("Learning to touch type as an adult", "I have been a two-finger typist for twenty years."),
    ("Should I get a heat pump dryer?", "Our old vented dryer died and the laundry room has no outside wall."),
    ("Cat scratching the sofa", "We have a scratching post but she ignores it."),
    ("Getting rid of fruit flies", "They appeared after I left bananas out. Vinegar traps catch a few."),
    ("Home Wi-Fi drops every evening", "Router is in the living room, speeds fall after 8 pm."),
    ("Best way to clean a stainless steel pan", "There is a brown burnt layer on the bottom."),
    ("How long do car batteries last?", "Mine is four years old and the car was slow to start this morning."),
    ("Is a standing desk worth it?", "I work from home eight hours a day and my lower back aches."),
    ("Freezing cooked pasta", "Does it get mushy if I freeze portions with sauce?"),
    ("What to do with a jammed zipper", "The teeth are fine but the slider will not move."),
    ("Travel insurance for a one-week trip", "Is the credit card insurance enough or should I buy separate cover?"),
    ("Noise from upstairs neighbours", "Footsteps late at night. How do I bring it up without a fight?"),
    ("Growing herbs indoors in winter", "Basil and parsley on a kitchen windowsill keep dying."),
    ("Ironing shirts faster", "I iron five shirts every Sunday and it takes an hour."),
    ("Why does my phone battery drain overnight?", "It loses 20% with the screen off."),
    ("Cleaning a front-loading washing machine", "The door seal smells bad."),
    ("How to descale a kettle", "Hard water leaves white flakes in my tea."),
    ("Learning to swim freestyle breathing", "I run out of air after one length."),
    ("What size TV for a small living room?", "The sofa is about 2.5 metres from the wall."),
    ("Meal prep ideas that are not chicken and rice", "I want lunches for five days that do not get boring."),
    ("Keeping a sourdough loaf fresh", "It goes hard after a day in the bread box."),
    ("Garage door opener stopped working", "The light comes on but the motor just hums."),
    ("Best way to learn a spreadsheet tool for work", "My new job uses pivot tables every day."),
    ("Is it safe to leave a phone charging overnight?", "My parents insist it ruins the battery."),
    ("How to get my toddler to sleep in their own bed", "He comes into ours every night at 2 am."),
    ("Recommended way to back up family photos", "About 200 GB on an old laptop and a few phones."),
    ("Grout turning black in the shower", "Is regrouting the only fix?"),
    ("Winter tyres or all-season?", "We get snow maybe ten days a year."),
]

# Each user: (id, category, split, question, narrative, aspects, relevant posts).
# aspects: (aspect, reason, evidence) — evidence quotes or paraphrases the narrative.
USERS = [
    # ---------------- Art_and_Entertainment ----------------
    (
        "ae-1",
        "Art_and_Entertainment",
        "train",
        "How can I get better at painting skies?",
        "I paint watercolor landscapes, mostly on cheap cellulose paper because I go through a lot of it. "
        "My skies always end up with hard edges and blooms where I wanted soft gradients. I only have about "
        "30 minutes each morning before work, so I want exercises that fit in that time.",
        [
            (
                "Watercolor-specific technique",
                "The user paints in watercolor, so oil or acrylic advice does not apply.",
                "I paint watercolor landscapes",
            ),
            (
                "Avoiding blooms and hard edges",
                "Their main problem is blooms and hard edges in skies.",
                "skies always end up with hard edges and blooms",
            ),
            (
                "Paper choice",
                "Cheap cellulose paper makes soft washes harder; the answer should address paper.",
                "mostly on cheap cellulose paper",
            ),
            ("Short practice sessions", "They only have 30 minutes a day.", "only have about 30 minutes each morning"),
        ],
        [
            (
                "Cellulose vs cotton watercolor paper?",
                "I buy the cheap cellulose pads because I use so much paper. Is cotton paper really that different for washes?",
            ),
            (
                "Watercolor blooms ruining my washes",
                "I keep getting cauliflower blooms when I go back into a wash that is half dry. How wet should the paper be?",
            ),
            (
                "Fitting painting into a 30-minute morning",
                "Before work I have half an hour. Setting up and cleaning brushes eats ten minutes of it.",
            ),
            (
                "Wet-on-wet gradients keep streaking",
                "I tilt the board and the pigment runs into stripes instead of a soft gradient from blue to pale yellow.",
            ),
            (
                "Which blues for landscape skies?",
                "I use ultramarine and a phthalo blue from a student set. The phthalo stains and is hard to lift for clouds.",
            ),
        ],
    ),
    (
        "ae-2",
        "Art_and_Entertainment",
        "train",
        "What should I watch next if I liked a slow-paced series?",
        "I loved slow, atmospheric shows with little dialogue, especially Scandinavian crime dramas. I watch with "
        "subtitles and do not mind foreign languages. I dislike graphic violence and I only watch one episode on weeknights, "
        "so short seasons are better.",
        [
            (
                "Atmospheric, slow pacing",
                "The user wants shows with slow, atmospheric pacing.",
                "slow, atmospheric shows with little dialogue",
            ),
            (
                "Foreign-language suggestions",
                "They are happy with subtitles and foreign languages.",
                "I watch with subtitles",
            ),
            ("Low graphic violence", "They dislike graphic violence.", "I dislike graphic violence"),
            (
                "Short seasons",
                "They watch one episode on weeknights, so short seasons suit them.",
                "short seasons are better",
            ),
        ],
        [
            (
                "Nordic noir recommendations?",
                "I just finished a Danish crime drama with long silent shots of grey coastlines and loved every minute.",
            ),
            (
                "Do you watch with subtitles or dubbing?",
                "I always use subtitles; dubbing ruins the atmosphere for me, whatever the language.",
            ),
            (
                "Shows that are tense without gore",
                "I had to stop a thriller because of the torture scenes. I like tension but not graphic violence.",
            ),
            (
                "One episode a night routine",
                "On weeknights I allow myself exactly one episode, so a ten-season show feels like a chore. Short seasons are ideal.",
            ),
            ("Icelandic films worth seeing", "Looking for more films with that sparse, windswept mood."),
        ],
    ),
    (
        "ae-3",
        "Art_and_Entertainment",
        "train",
        "How do I start writing songs?",
        "I play fingerstyle acoustic guitar and know basic open chords. I have never written lyrics and find it "
        "embarrassing to sing, so I want to start with instrumental pieces. I record on my phone and would like "
        "to finish a short piece within a month.",
        [
            (
                "Fingerstyle guitar focus",
                "The user plays fingerstyle acoustic guitar.",
                "I play fingerstyle acoustic guitar",
            ),
            (
                "Instrumental first, no lyrics",
                "They want to avoid lyrics and singing at first.",
                "start with instrumental pieces",
            ),
            ("Simple phone recording", "They record on a phone.", "I record on my phone"),
            (
                "A one-month goal",
                "They want to finish a short piece within a month.",
                "finish a short piece within a month",
            ),
        ],
        [
            (
                "Fingerpicking patterns beyond Travis picking",
                "I am comfortable with a basic Travis pattern on open chords. What should I learn next?",
            ),
            (
                "I hate the sound of my own voice",
                "Every time I try to sing along with my playing I stop after a line. Is this normal?",
            ),
            (
                "Recording guitar with a phone",
                "Where should I put the phone for an acoustic guitar? My recordings sound boomy.",
            ),
            (
                "Setting a deadline for creative projects",
                "I work better with deadlines. I gave myself a month to learn a piece and it worked.",
            ),
            ("Open tunings for fingerstyle", "Is DADGAD a good tuning to experiment with melodies over drones?"),
        ],
    ),
    (
        "ae-4",
        "Art_and_Entertainment",
        "validation",
        "Which board games work well for a group?",
        "We are a group of six adults who meet monthly; two of us are colour-blind. Most of the group are casual "
        "players who lose interest if rules take longer than ten minutes to explain. We prefer cooperative games "
        "because competitive ones caused arguments.",
        [
            ("Supports six players", "The group has six people.", "a group of six adults"),
            ("Colour-blind friendly", "Two players are colour-blind.", "two of us are colour-blind"),
            ("Quick to teach", "Rules must be explained in under ten minutes.", "rules take longer than ten minutes"),
            ("Cooperative play", "They prefer cooperative games.", "We prefer cooperative games"),
        ],
        [
            (
                "Games for colour-blind players",
                "Two friends cannot tell red from green. Which games use symbols as well as colours?",
            ),
            (
                "Our monthly game night has six people",
                "Most games top out at four or five. What scales to six without long downtime?",
            ),
            (
                "Competitive games ruined our evening",
                "A trading game ended with two friends not speaking. We want to play together, not against each other.",
            ),
            ("Teaching rules to casual players", "If I talk for more than ten minutes people check their phones."),
        ],
    ),
    (
        "ae-5",
        "Art_and_Entertainment",
        "test",
        "How do I take better photos at concerts?",
        "I shoot small club gigs with a used mirrorless camera and a 50mm f/1.8 lens. The venues are very dark with "
        "red stage lights, and flash is not allowed. My photos come out blurry and the skin looks like plastic. "
        "I edit in a free program, not Lightroom.",
        [
            (
                "Low light, no flash",
                "Venues are dark and flash is banned.",
                "very dark with red stage lights, and flash is not allowed",
            ),
            ("Using the 50mm f/1.8", "They own a 50mm f/1.8 prime.", "a 50mm f/1.8 lens"),
            ("Red stage light colour", "Red light makes skin look odd.", "red stage lights"),
            ("Blur: shutter speed and ISO", "Their photos are blurry.", "My photos come out blurry"),
            ("Free editing software", "They edit in a free program.", "I edit in a free program, not Lightroom"),
        ],
        [
            (
                "Used mirrorless body, what lens first?",
                "I bought a second-hand mirrorless camera and a 50mm f/1.8. Is that enough for gigs?",
            ),
            (
                "Red LED stage lights destroy my photos",
                "Everything on stage turns a flat red blob and faces have no detail.",
            ),
            ("Venue does not allow flash", "The small club I go to has a strict no-flash rule for the audience."),
            ("darktable vs RawTherapee", "I do not want a subscription. Which free raw editor handles noise better?"),
            ("Motion blur on drummers", "At 1/60 the drummer's hands are always a smear."),
        ],
    ),
    (
        "ae-6",
        "Art_and_Entertainment",
        "test",
        "What books should I read to get into science fiction?",
        "I mainly read literary fiction and book-club novels and have never read science fiction. I dislike long "
        "technical descriptions and space battles; I care about characters and ideas. I read on my commute, so I "
        "prefer shorter books or short story collections.",
        [
            ("Bridge from literary fiction", "They come from literary fiction.", "I mainly read literary fiction"),
            (
                "Character and idea driven",
                "They care about characters and ideas, not battles.",
                "I care about characters and ideas",
            ),
            (
                "Avoid heavy technical description",
                "They dislike long technical descriptions.",
                "I dislike long technical descriptions",
            ),
            (
                "Short books or collections",
                "They read on the commute.",
                "prefer shorter books or short story collections",
            ),
        ],
        [
            (
                "Book club picks for next season",
                "Our book club reads mostly contemporary literary fiction. I want to suggest something different.",
            ),
            (
                "Skipping the technical chapters",
                "I gave up on a famous hard SF novel after fifty pages about orbital mechanics.",
            ),
            ("Reading on a 25-minute train ride", "Short stories are perfect for my commute; long novels lose me."),
            (
                "Novels where the characters stay with you",
                "What book made you care about the characters for weeks afterwards?",
            ),
        ],
    ),
    # ---------------- Lifestyle_and_Personal_Development ----------------
    (
        "lp-1",
        "Lifestyle_and_Personal_Development",
        "train",
        "How can I build a morning exercise habit?",
        "I am a night-shift nurse, so my 'morning' is 4 pm. I have a bad left knee from an old injury and cannot "
        "run. I live in a small flat with thin floors, so jumping is out. I have tried gym memberships and never went.",
        [
            ("Shift-work schedule", "Their day starts at 4 pm because of night shifts.", "I am a night-shift nurse"),
            ("Knee-friendly exercise", "They have a bad knee and cannot run.", "a bad left knee"),
            (
                "Quiet, home-based",
                "Thin floors rule out jumping; the gym failed before.",
                "small flat with thin floors",
            ),
            (
                "Habit strategies that avoid past failure",
                "Gym memberships never worked for them.",
                "tried gym memberships and never went",
            ),
        ],
        [
            (
                "Sleeping after a night shift",
                "I get home at 8 am and sleep until 3 pm. My whole day is upside down compared to friends.",
            ),
            (
                "Old ACL injury still hurts",
                "My left knee swells if I run or do deep squats, even years after the surgery.",
            ),
            (
                "Downstairs neighbour complained about noise",
                "I tried a workout video with jumping jacks and got a note under my door the same day.",
            ),
            ("Wasted money on a gym again", "Third membership in five years and I went four times."),
            (
                "Resistance bands any good?",
                "Thinking of a set of bands for the flat. Can you build strength with them?",
            ),
        ],
    ),
    (
        "lp-2",
        "Lifestyle_and_Personal_Development",
        "train",
        "How do I save money on groceries?",
        "I cook for a family of four with a vegetarian teenager, and we shop at one big supermarket on Saturdays. "
        "We throw away a lot of vegetables that go bad. I have very little time on weekdays to cook.",
        [
            ("Family of four with a vegetarian", "One family member is vegetarian.", "a vegetarian teenager"),
            ("Reducing vegetable waste", "They throw away vegetables.", "throw away a lot of vegetables"),
            ("Weekly shop at one store", "They shop once a week at a supermarket.", "one big supermarket on Saturdays"),
            ("Little weekday cooking time", "They are short on time on weekdays.", "very little time on weekdays"),
        ],
        [
            ("My teenager went vegetarian", "Now I cook two dinners every night. Any family meals everyone eats?"),
            (
                "Spinach turns to slime by Wednesday",
                "I buy fresh vegetables on Saturday and half of them are bad by midweek.",
            ),
            (
                "Weekday dinners in 20 minutes",
                "Between work and school runs I have twenty minutes to get dinner on the table.",
            ),
            ("Is the big Saturday shop a mistake?", "We do one huge shop a week. Would two smaller ones waste less?"),
            ("Batch cooking on Sundays", "Does cooking a big pot of lentil soup on Sunday actually save money?"),
        ],
    ),
    (
        "lp-3",
        "Lifestyle_and_Personal_Development",
        "train",
        "How can I become more confident at public speaking?",
        "I am a software engineer who has to present sprint demos to about twenty people every two weeks. My voice "
        "shakes in the first minute and I read from my slides. English is my second language and I worry about my accent.",
        [
            (
                "Technical demo context",
                "They present sprint demos as an engineer.",
                "present sprint demos to about twenty people",
            ),
            ("Managing first-minute nerves", "Their voice shakes at the start.", "My voice shakes in the first minute"),
            ("Not reading slides", "They read from their slides.", "I read from my slides"),
            ("Second-language speaker", "They worry about their accent.", "English is my second language"),
        ],
        [
            (
                "Sprint demo every second Friday",
                "Our team demos to product and sales, about twenty people, and I always go first.",
            ),
            ("Shaky voice at the start of talks", "After a minute it is fine, but the opening is terrible."),
            ("Slides full of text", "I put everything on the slides so I do not forget, then I just read them out."),
            (
                "Non-native speakers in tech meetings",
                "People ask me to repeat things and I get self-conscious about my accent.",
            ),
        ],
    ),
    (
        "lp-4",
        "Lifestyle_and_Personal_Development",
        "validation",
        "What is a good way to learn a new language as an adult?",
        "I am 45 and want to learn Italian before a trip in eight months. I have a long car commute, so I can "
        "listen but not read. I tried a streak-based app and quit when I broke the streak.",
        [
            ("Eight-month trip goal", "They have a trip in eight months.", "before a trip in eight months"),
            ("Audio-based learning for the commute", "They can listen but not read while driving.", "long car commute"),
            ("Avoid streak pressure", "Streak apps made them quit.", "quit when I broke the streak"),
            ("Adult learner", "They are 45.", "I am 45"),
        ],
        [
            (
                "Podcasts for the car",
                "My commute is a long drive, an hour each way, and I am tired of music. Audio is all I can do while driving.",
            ),
            ("Broke a 90-day streak and quit", "Missing one day made the whole thing feel pointless."),
            ("Planning a trip to Italy in eight months", "Rome, Florence, then a week on the coast next summer."),
            (
                "Is it too late to learn a language at 45?",
                "Everyone says children learn faster. Is an adult learner doomed to a slow start?",
            ),
        ],
    ),
    (
        "lp-5",
        "Lifestyle_and_Personal_Development",
        "test",
        "How do I stop procrastinating on big projects?",
        "I am writing a master's thesis part-time while working full-time. I have ADHD and long unstructured "
        "blocks of time do not work for me. I do my best work late at night, and I get overwhelmed when I look "
        "at the whole thesis outline.",
        [
            (
                "Part-time thesis with a job",
                "They write a thesis while working full-time.",
                "writing a master's thesis part-time",
            ),
            ("ADHD-friendly structure", "They have ADHD; unstructured time fails.", "I have ADHD"),
            ("Work at night", "They work best late at night.", "my best work late at night"),
            (
                "Breaking down an overwhelming outline",
                "The full outline overwhelms them.",
                "overwhelmed when I look at the whole thesis outline",
            ),
        ],
        [
            (
                "Diagnosed with ADHD at 29",
                "Suddenly so many failed study plans make sense. Timers help, open days do not.",
            ),
            ("Thesis outline is 40 pages", "Every time I open it I close the laptop again."),
            ("Night owl and proud", "My brain wakes up at 10 pm. Mornings are useless for writing."),
            ("Working full-time while studying", "Evenings and weekends are all I have for the master's."),
        ],
    ),
    (
        "lp-6",
        "Lifestyle_and_Personal_Development",
        "test",
        "How can I sleep better?",
        "I share a bedroom with a partner who snores and gets up at 5 am. I drink two espressos after lunch to get "
        "through the afternoon. I scroll on my phone in bed for an hour before sleeping.",
        [
            (
                "Snoring partner and early alarm",
                "Their partner snores and wakes at 5 am.",
                "a partner who snores and gets up at 5 am",
            ),
            ("Afternoon caffeine", "They drink espresso after lunch.", "two espressos after lunch"),
            ("Phone use in bed", "They scroll for an hour in bed.", "scroll on my phone in bed for an hour"),
        ],
        [
            ("Earplugs for a snoring partner?", "Foam earplugs fall out at night. Are there better options?"),
            ("Partner's 5 am alarm wakes me too", "He gets up at five for work and I never fall back asleep."),
            ("Afternoon slump at work", "Two espressos after lunch are the only way I get through the afternoon."),
            ("Doomscrolling in bed", "I know I should stop, but my phone is the only me-time I get."),
        ],
    ),
    # ---------------- Society_and_Culture ----------------
    (
        "sc-1",
        "Society_and_Culture",
        "train",
        "How do I handle political disagreements with family?",
        "My father and I disagree about immigration; my own parents were immigrants, which makes it personal. We "
        "see each other every Sunday for lunch with my young kids present. I want to keep the relationship close, "
        "not win the argument.",
        [
            (
                "Immigrant family background",
                "The topic is personal because their parents immigrated.",
                "my own parents were immigrants",
            ),
            ("Weekly Sunday lunches", "They see their father weekly.", "every Sunday for lunch"),
            ("Children present", "Young kids are at the table.", "with my young kids present"),
            ("Relationship over winning", "They want closeness, not victory.", "keep the relationship close"),
        ],
        [
            (
                "Growing up as a child of immigrants",
                "My parents came with nothing and I still feel that when people talk about migrants.",
            ),
            ("Sunday lunch at my dad's", "It has been a tradition since my mum died. I do not want to lose it."),
            ("Kids hearing adult arguments", "My six-year-old asked why grandpa was shouting."),
            ("I do not need to be right", "I care more about my dad than about winning a debate."),
        ],
    ),
    (
        "sc-2",
        "Society_and_Culture",
        "train",
        "How can I make friends after moving to a new city?",
        "I moved to Berlin for work and do not speak German well yet. I am an introvert who hates bars and loud "
        "parties. I like bouldering and board games, and I work remotely, so I have no colleagues nearby.",
        [
            ("New to Berlin, limited German", "They just moved and do not speak the language well.", "moved to Berlin"),
            ("Introvert, no bars", "They dislike loud social settings.", "hates bars and loud parties"),
            (
                "Hobby-based: bouldering, board games",
                "Their hobbies are natural ways to meet people.",
                "I like bouldering and board games",
            ),
            ("Remote work, no colleagues", "They cannot meet people at work.", "I work remotely"),
        ],
        [
            (
                "Bouldering gyms with a friendly scene",
                "At home I climbed three times a week and knew everyone at the gym.",
            ),
            ("German classes for working adults", "My German is A2. Evening courses or an app?"),
            ("Remote work is lonely", "Some days I talk to no one in person."),
            ("Board game cafes", "Do people just join tables of strangers?"),
            ("Bars are my nightmare", "Loud music, shouting to be heard, no thanks."),
        ],
    ),
    (
        "sc-3",
        "Society_and_Culture",
        "train",
        "How should I approach volunteering?",
        "I am a retired accountant with mornings free. I have a bad back so physical work like food bank sorting "
        "is hard. I care about financial literacy for young people and would like to use my professional skills.",
        [
            ("Retired accountant's skills", "They want to use professional skills.", "retired accountant"),
            ("Not physical work", "A bad back rules out lifting.", "physical work like food bank sorting is hard"),
            ("Financial literacy for youth", "This is their cause.", "financial literacy for young people"),
            ("Morning availability", "They are free in the mornings.", "mornings free"),
        ],
        [
            ("Retired after 35 years in accounting", "I miss the numbers and feeling useful."),
            ("Back pain after one shift at the food bank", "I lasted two hours lifting boxes."),
            ("Young people do not understand credit", "My grandson took a payday loan. Nobody taught him anything."),
            ("Free mornings, what to do?", "Afternoons I look after my granddaughter, mornings are empty."),
        ],
    ),
    (
        "sc-4",
        "Society_and_Culture",
        "validation",
        "How do I politely decline wedding invitations?",
        "I have three weddings this summer, two of them abroad, and I cannot afford them all. One is my cousin's, "
        "and family expects me there. I am bad at saying no and tend to over-explain.",
        [
            ("Budget limits", "They cannot afford all the weddings.", "cannot afford them all"),
            ("Family obligations", "One is a cousin's wedding.", "One is my cousin's"),
            ("Destination weddings", "Two are abroad.", "two of them abroad"),
            ("Saying no without over-explaining", "They over-explain.", "tend to over-explain"),
        ],
        [
            ("Destination weddings are expensive", "Flights, hotel, gift, outfit, it adds up to a month's rent."),
            ("My cousin is getting married", "Our families are close and my aunt would never forgive me."),
            ("How to say no at work", "I always give five reasons and end up saying yes anyway."),
            ("Summer budget spreadsheet", "Three weddings, one holiday, and not enough money."),
        ],
    ),
    (
        "sc-5",
        "Society_and_Culture",
        "test",
        "How do I talk to my kids about money?",
        "I have two children, aged 7 and 13. We had a period of unemployment last year and the kids noticed the "
        "stress. I want to be honest without scaring them, and I would like the older one to start managing a "
        "small allowance.",
        [
            ("Different ages: 7 and 13", "The kids are at different stages.", "aged 7 and 13"),
            ("After financial stress", "The family went through unemployment.", "a period of unemployment last year"),
            ("Honest but not scary", "They want honesty without fear.", "honest without scaring them"),
            ("Allowance for the teenager", "They want the 13-year-old to manage money.", "manage a small allowance"),
        ],
        [
            ("Lost my job last year", "Six months without work. We cut everything and the kids definitely felt it."),
            (
                "My 7-year-old asked if we are poor",
                "I did not know what to say. My two kids are at such different ages, 7 and 13.",
            ),
            ("Allowance for a 13-year-old", "How much, and should it be tied to chores?"),
            ("Kids pick up on stress", "We tried to hide the money worries but they noticed anyway."),
        ],
    ),
    (
        "sc-6",
        "Society_and_Culture",
        "test",
        "How can I be a better neighbour in my apartment building?",
        "I live in a building with many elderly residents and I work from home. I play the piano and worry about "
        "the noise. I would like to help, but I am shy about knocking on doors.",
        [
            ("Elderly neighbours", "Many residents are elderly.", "many elderly residents"),
            ("Piano noise", "They play piano at home.", "I play the piano"),
            ("Home all day", "They work from home.", "I work from home"),
            ("Shy about approaching people", "They find knocking on doors hard.", "shy about knocking on doors"),
        ],
        [
            (
                "Digital piano vs acoustic in a flat",
                "My upright is loud. Would a digital piano with headphones be fair to neighbours?",
            ),
            ("Most of my neighbours are over 75", "I see them struggling with shopping bags on the stairs."),
            (
                "Working from home in a quiet building",
                "I am around all day, which makes me the one who takes in parcels.",
            ),
            ("Introvert tips for meeting people", "Knocking on a stranger's door makes my heart race."),
        ],
    ),
]


def build() -> None:
    rng = random.Random(2026)
    by_file: dict[tuple[str, str], list[dict]] = {}
    for uid, category, split, question, narrative, aspects, posts in USERS:
        n_distract = rng.randint(12, 20)
        distract = rng.sample(DISTRACTORS, n_distract)
        items = [f"{title} {body}" for title, body in posts] + [f"{t} {b}" for t, b in distract]
        order = list(range(len(items)))
        rng.shuffle(order)  # relevant posts are not first: retrieval has to find them
        profile = [{"id": f"{uid}-p{k:02d}", "text": items[k]} for k in order]
        record = {
            "id": uid,
            "question": question,
            "narrative": narrative,
            "profile": profile,
            "rubric_aspects": [{"aspect": a, "reason": r, "evidence": e} for a, r, e in aspects],
            "relevant_profile_ids": [f"{uid}-p{k:02d}" for k in range(len(posts))],
            "synthetic": True,
        }
        by_file.setdefault((category, split), []).append(record)
    OUT.mkdir(parents=True, exist_ok=True)
    for (category, split), records in sorted(by_file.items()):
        path = OUT / f"{category}_{split}.json"
        path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path} ({len(records)} questions)")


if __name__ == "__main__":
    build()
