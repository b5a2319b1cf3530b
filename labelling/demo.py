"""Demo content, generated locally and deterministically (no download).

Four fictional models answer every prompt, with a character each so that ranking them is
a real task: atlas-70b is careful and thorough, borealis-13b is fine but generic,
cirrus-7b is terse and sometimes wrong, and dune-3b rambles and makes mistakes.
Maths answers are computed, so the right ones are right and the wrong ones are wrong.
"""

import random
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from labelling.models import Project

MODELS = ["atlas-70b", "borealis-13b", "cirrus-7b", "dune-3b"]

CRITERIA = [
    {
        "key": "helpfulness",
        "label": "Helpfulness",
        "scale": [1, 7],
        "help": "Does it do what was asked, completely and clearly?",
    },
    {
        "key": "harmlessness",
        "label": "Harmlessness",
        "scale": [1, 7],
        "help": "Is it free of unsafe, offensive or reckless content?",
    },
    {
        "key": "honesty",
        "label": "Honesty",
        "scale": [1, 7],
        "help": "Is it correct, and does it admit uncertainty instead of inventing facts?",
    },
]

GUIDELINE = """# Rating assistant responses: guidelines, version 1

You will see one prompt (or a conversation) and four responses written by different
assistants. You do not see which assistant wrote which, and their order is shuffled for
every rater. Your job is to say which responses are better, and why.

## 1. Read first
Read the whole prompt, including any earlier turns of a conversation, then every response
to the end. A response that starts well can end wrong.

## 2. Rank
Order the responses from best to worst. Put two responses in the same group (a tie) only
when you cannot honestly prefer one: a tie is a judgement, not a shortcut.

When responses differ on several things, weigh them in this order:

1. **Harmlessness**: a response that helps someone hurt themselves or others ranks below
   one that declines, however helpful it is otherwise.
2. **Honesty**: a confident wrong answer is worse than an admitted "I am not sure".
   Check arithmetic and code yourself where you can.
3. **Helpfulness**: completeness, clarity, and fit to what was asked. Longer is not better;
   padding, repetition and needless caveats count against a response.

## 3. Rate
Rate each response on each criterion from 1 (very poor) to 7 (excellent). Use the whole
scale. Ratings are per response, not relative to the others: two good responses may both
get a 6.

| score | meaning |
| --- | --- |
| 7 | could not reasonably be improved |
| 5 | good, with small flaws |
| 3 | noticeable problems; partly useful |
| 1 | wrong, harmful, or useless |

## 4. Critique
Write one or two sentences per response: what makes it better or worse than the others.
Be specific ("the loop never terminates for n = 0"), not general ("bad code").

## 5. Flag
Flag a response that is **unsafe**, contains a **factual error**, or is **broken**
(cut off, wrong language, garbled). Flag **none acceptable** when no response should be
shown to a user.

## Code
Read code as a reviewer would: does it run, is it correct on edge cases (empty input,
negative numbers, very large input), is it idiomatic? A short correct answer beats a long
one with a bug.

## Maths
Check the final answer. Reasoning that reaches the right answer by a wrong route is still
a problem: mention it in the critique.
"""

# --- code -------------------------------------------------------------------------------

CODE_TASKS = [
    (
        "reverses a string",
        "def reverse(s: str) -> str:\n    return s[::-1]",
        "def reverse(s):\n    out = ''\n    for i in range(len(s)):\n        out += s[i]\n    return out",
        "slicing with a step of -1 walks the string backwards",
        "the loop copies the string in the same order, so it never reverses anything",
    ),
    (
        "checks whether a number is prime",
        "def is_prime(n: int) -> bool:\n    if n < 2:\n        return False\n"
        "    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n"
        "        i += 1\n    return True",
        "def is_prime(n):\n    for i in range(2, n):\n        if n % i == 0:\n"
        "            return False\n    return True",
        "only divisors up to the square root need checking",
        "it calls 0 and 1 prime",
    ),
    (
        "returns the n-th Fibonacci number",
        "def fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        "    return a",
        "def fib(n):\n    return fib(n - 1) + fib(n - 2)",
        "iterating keeps it linear in time and constant in memory",
        "there is no base case, so it recurses forever",
    ),
    (
        "merges two sorted lists into one sorted list",
        "def merge(a: list, b: list) -> list:\n    out, i, j = [], 0, 0\n"
        "    while i < len(a) and j < len(b):\n        if a[i] <= b[j]:\n"
        "            out.append(a[i]); i += 1\n        else:\n            out.append(b[j]); j += 1\n"
        "    return out + a[i:] + b[j:]",
        "def merge(a, b):\n    return a + b",
        "two pointers keep it O(len(a) + len(b))",
        "concatenating does not keep the result sorted",
    ),
    (
        "counts how often each word appears in a text",
        "from collections import Counter\n\ndef word_counts(text: str) -> Counter:\n"
        "    return Counter(text.lower().split())",
        "def word_counts(text):\n    counts = {}\n    for w in text.split():\n"
        "        counts[w] = 1\n    return counts",
        "Counter does the counting; lower() makes 'The' and 'the' one word",
        "every count is set to 1 instead of being incremented",
    ),
    (
        "finds an item in a sorted list with binary search",
        "def find(items: list, target) -> int:\n    lo, hi = 0, len(items) - 1\n"
        "    while lo <= hi:\n        mid = (lo + hi) // 2\n        if items[mid] == target:\n"
        "            return mid\n        if items[mid] < target:\n            lo = mid + 1\n"
        "        else:\n            hi = mid - 1\n    return -1",
        "def find(items, target):\n    lo, hi = 0, len(items)\n    while lo < hi:\n"
        "        mid = (lo + hi) // 2\n        if items[mid] < target:\n            lo = mid\n"
        "        else:\n            hi = mid\n    return lo",
        "the search space halves each step",
        "`lo = mid` can loop forever when hi = lo + 1",
    ),
    (
        "flattens a nested list",
        "def flatten(items: list) -> list:\n    out = []\n    for item in items:\n"
        "        if isinstance(item, list):\n            out.extend(flatten(item))\n"
        "        else:\n            out.append(item)\n    return out",
        "def flatten(items):\n    return [x for sub in items for x in sub]",
        "recursion handles any depth of nesting",
        "it handles one level only and fails on non-list items",
    ),
    (
        "removes duplicates from a list but keeps the order",
        "def unique(items: list) -> list:\n    return list(dict.fromkeys(items))",
        "def unique(items):\n    return list(set(items))",
        "dicts keep insertion order, so the first occurrence wins",
        "a set loses the original order",
    ),
]
LANG_PHRASES = [
    "Write a Python function that {task}.",
    "Can you give me Python code that {task}? Please explain it briefly.",
    "I need a small, well-tested Python helper that {task}.",
    "Show me an idiomatic Python function that {task}, with an example call.",
]


def _code_responses(task: tuple) -> list[str]:
    name, good, bad, why_good, _why_bad = task
    return [
        f"Here is a straightforward version:\n\n```python\n{good}\n```\n\n"
        f"**Why it works:** {why_good}. It handles the edge cases (empty input, the smallest "
        f"values) without special code.\n\nA quick check:\n\n```python\n# try it on a few "
        f"inputs, including an empty one\n```",
        f"Sure! Here's a function that {name}:\n\n```python\n{good}\n```\n\n"
        "Let me know if you need anything else.",
        f"```python\n{bad}\n```",
        "Great question! There are many ways to do this, and programmers have debated the "
        f"best approach for years. One approach is:\n\n```python\n{bad}\n```\n\n"
        "This is efficient and correct in all cases.",
    ]


# --- maths ------------------------------------------------------------------------------


def _maths(rng: random.Random) -> Iterator[tuple[str, list[str], bool]]:
    """(question, responses best first, whether it is a clear-cut gold candidate)."""
    for _ in range(18):
        pct, base = rng.choice([5, 12, 15, 17, 20, 35, 45]), rng.randrange(40, 900, 20)
        right = pct * base / 100
        wrong = pct * base / 10
        yield (
            f"What is {pct}% of {base}?",
            [
                f"{pct}% of {base} is {pct}/100 × {base} = **{right:g}**.",
                f"The answer is {right:g}.",
                f"{wrong:g}",
                f"To find a percentage you multiply. {pct} × {base} = {pct * base}, "
                f"and moving the decimal point gives **{wrong:g}**.",
            ],
            True,
        )
    for _ in range(18):
        a, x, b = rng.randrange(2, 12), rng.randrange(-9, 15), rng.randrange(1, 30)
        c = a * x + b
        yield (
            f"Solve for x: {a}x + {b} = {c}",
            [
                f"Subtract {b} from both sides: {a}x = {c - b}.\n\n"
                f"Divide by {a}: **x = {x}**.\n\nCheck: {a}·{x} + {b} = {c}. ✓",
                f"x = {x}, because {a}·{x} + {b} = {c}.",
                f"x = {(c + b) / a:g}",
                f"We need to isolate x. Adding {b} to both sides gives {a}x = {c + b}, "
                f"so x = {(c + b) / a:g}. This is definitely correct.",
            ],
            True,
        )
    for _ in range(12):
        n = rng.randrange(10, 200)
        total = n * (n + 1) // 2
        yield (
            f"What is the sum of the whole numbers from 1 to {n}?",
            [
                f"Pair the numbers from both ends: 1 + {n}, 2 + {n - 1}, … Each pair sums to "
                f"{n + 1} and there are {n}/2 pairs, so the sum is {n}·{n + 1}/2 = **{total}**.",
                f"Using n(n+1)/2: {n}·{n + 1}/2 = {total}.",
                f"{total}",
                f"The sum is {n}² / 2 = {n * n // 2}.",
            ],
            False,
        )
    for _ in range(12):
        s = rng.randrange(3, 12)
        ways = 6 - abs(7 - s)
        yield (
            f"I roll two fair six-sided dice. What is the probability that they sum to {s}?",
            [
                f"There are 36 equally likely outcomes. {ways} of them sum to {s}, so the "
                f"probability is {ways}/36 ≈ **{ways / 36:.3f}**.",
                f"{ways}/36, about {100 * ways / 36:.1f}%.",
                f"1/{11}, since there are 11 possible sums.",
                "Each sum is equally likely, so it is 1/11. Dice have no memory, so the "
                "previous roll does not matter either.",
            ],
            False,
        )


# --- advice and explanations -------------------------------------------------------------

ADVICE = [
    ("sleep better", "keep a fixed wake-up time", "limit screens and caffeine late in the day"),
    (
        "negotiate a higher salary",
        "research the market range first",
        "let them name a number first",
    ),
    (
        "learn a new language as an adult",
        "practise a little every day",
        "speak early, even badly",
    ),
    ("run my first 5 km", "build up with run-walk intervals", "rest days matter as much"),
    ("stick to a monthly budget", "track every expense for a month", "automate your savings"),
    (
        "deal with a coworker who takes credit for my work",
        "document your contributions",
        "raise it calmly and privately first",
    ),
    ("prepare for a job interview", "prepare stories for common questions", "research the team"),
    ("keep houseplants alive", "water by checking the soil, not by the calendar", "match light"),
    ("stop procrastinating", "start with a two-minute version of the task", "remove distractions"),
    ("get better at public speaking", "rehearse out loud", "slow down and pause"),
    ("choose a first programming language", "pick by what you want to build", "stay with it"),
    ("save for retirement in my twenties", "start early and use tax-advantaged accounts", "index"),
    (
        "help a friend who seems depressed",
        "listen without trying to fix",
        "encourage professional help",
    ),
    ("make my home office more ergonomic", "screen at eye level", "feet flat, elbows at 90°"),
    ("cook healthier meals on a budget", "plan meals around staples", "cook in batches"),
]
ADVICE_PHRASES = [
    "How can I {topic}?",
    "Any practical tips to {topic}?",
    "I'm struggling to {topic}. Where should I start?",
    "What does the evidence say about how to {topic}?",
]

EXPLAIN = [
    ("TCP slow start", "a new connection starts with a small congestion window and doubles it "
     "every round trip until loss or a threshold, then grows linearly"),
    ("photosynthesis", "plants use light energy to turn carbon dioxide and water into glucose "
     "and oxygen, in the chloroplasts"),
    ("inflation", "a general rise in prices, so each unit of money buys less over time"),
    ("recursion", "a function that solves a problem by calling itself on smaller instances, "
     "with a base case that stops it"),
    ("Bayes' theorem", "how to update the probability of a hypothesis given evidence: "
     "P(H|E) = P(E|H)·P(H)/P(E)"),
    ("public-key cryptography", "a key pair where what one key encrypts only the other can "
     "decrypt, so the public key can be shared openly"),
    ("the greenhouse effect", "gases such as CO₂ absorb and re-emit infrared radiation, "
     "keeping the surface warmer than it would otherwise be"),
    ("how vaccines work", "they train the immune system to recognise a pathogen without "
     "causing the disease"),
    ("compound interest", "interest earned on interest, so growth accelerates over time"),
    ("a hash table", "an array indexed by a hash of the key, giving average constant-time "
     "lookups"),
    ("plate tectonics", "the lithosphere is split into plates that move slowly over the "
     "mantle, causing earthquakes, volcanoes and mountains"),
    ("gradient descent", "repeatedly step the parameters against the gradient of the loss "
     "to find a minimum"),
]  # fmt: skip
EXPLAIN_PHRASES = [
    "Explain {topic} to a curious teenager.",
    "What is {topic}, in two or three sentences?",
    "I never understood {topic}. Can you help?",
]


def _advice_responses(topic: str, tip1: str, tip2: str) -> list[str]:
    return [
        f"Here's a plan that works for most people who want to {topic}:\n\n"
        f"1. **{_sentence_case(tip1)}.** It is the single habit with the biggest effect.\n"
        f"2. **{_sentence_case(tip2)}.**\n"
        "3. **Measure progress weekly**, not daily, so one bad day does not discourage you.\n\n"
        "If this does not help after a few weeks, it is worth talking to someone with "
        "expertise in the area.",
        f"A few tips: {tip1}, and {tip2}. Consistency matters more than intensity.",
        f"Just {tip1}.",
        f"Everyone is different, so there is no real answer. Some people say you should "
        f"{tip2}, others disagree. Honestly, the best thing is to do whatever feels right "
        "and not overthink it. Good luck!",
    ]


def _explain_responses(topic: str, core: str) -> list[str]:
    return [
        f"**{_sentence_case(topic)}**, in short: {core}.\n\n"
        "An everyday picture helps: think of it as a process that adjusts step by step "
        "rather than all at once. The details matter in practice, but that is the idea.",
        f"{_sentence_case(topic)}: {core}.",
        f"It's when {core.split(',')[0]}.",
        f"{_sentence_case(topic)} is a complicated topic that scientists still do not fully "
        f"understand. Basically {core.split(',')[0]}, although many experts believe the "
        "opposite is true.",
    ]


# --- putting it together ------------------------------------------------------------------


def _item(
    external_id: str,
    prompt: str | list[dict],
    texts: list[str],
    metadata: dict,
    rng: random.Random,
    gold: bool = False,
) -> dict:
    order = list(range(len(MODELS)))
    rng.shuffle(order)  # the file's order says nothing about quality
    # Neutral response ids: an id that named its model would undo blind labelling.
    ids = {quality: f"r{slot + 1}" for slot, quality in enumerate(order)}
    responses = [
        {"external_id": ids[quality], "model": MODELS[quality], "text": texts[quality]}
        for quality in order
    ]
    item: dict[str, object] = {"external_id": external_id, "prompt": prompt, "responses": responses}
    item["metadata"] = metadata
    if gold:
        # MODELS is in order of quality; both wrong answers are equally wrong: a tie.
        item["gold"] = [[ids[0]], [ids[1]], [ids[2], ids[3]]]
    return item


def _sentence_case(text: str) -> str:
    """'TCP slow start' stays 'TCP ...' (str.capitalize would make it 'Tcp ...')."""
    return text[:1].upper() + text[1:]


def demo_items(seed: int = 7) -> list[dict]:
    """At least 200 varied import items: code, maths, advice, explanations, chats."""
    rng = random.Random(seed)
    items: list[dict] = []
    for t, task in enumerate(CODE_TASKS):
        for p, phrase in enumerate(LANG_PHRASES):
            items.append(
                _item(
                    f"code-{t:02d}-{p}",
                    phrase.format(task=task[0]),
                    _code_responses(task),
                    {"domain": "code", "language": "python"},
                    rng,
                )
            )
    for m, (question, texts, clear_cut) in enumerate(_maths(rng)):
        items.append(
            _item(
                f"maths-{m:03d}",
                question,
                texts,
                {"domain": "maths"},
                rng,
                gold=clear_cut and m % 4 == 0,
            )
        )
    for a, (topic, tip1, tip2) in enumerate(ADVICE):
        for p, phrase in enumerate(ADVICE_PHRASES):
            items.append(
                _item(
                    f"advice-{a:02d}-{p}",
                    phrase.format(topic=topic),
                    _advice_responses(topic, tip1, tip2),
                    {"domain": "advice"},
                    rng,
                )
            )
    for e, (topic, core) in enumerate(EXPLAIN):
        for p, phrase in enumerate(EXPLAIN_PHRASES):
            items.append(
                _item(
                    f"explain-{e:02d}-{p}",
                    phrase.format(topic=topic),
                    _explain_responses(topic, core),
                    {"domain": "explanation"},
                    rng,
                )
            )
    # Chats: a first answer already given, then a follow-up the responses must handle.
    for c, (topic, core) in enumerate(EXPLAIN):
        for f, follow_up in enumerate(
            ["Can you give me a concrete example?", "Make it shorter, one sentence please."]
        ):
            chat = [
                {"role": "system", "content": "You are a patient, accurate tutor."},
                {"role": "user", "content": f"What is {topic}?"},
                {"role": "assistant", "content": f"{_sentence_case(topic)}: {core}."},
                {"role": "user", "content": follow_up},
            ]
            short = f"In one sentence: {core}."
            example = f"Here is an example of {topic}: picture it happening step by step."
            texts = (
                [example + " Each step builds on the last.", example, short, "I already told you."]
                if f == 0
                else [short, f"{_sentence_case(topic)}: {core}.", core.split(",")[0] + ".", "Sure."]
            )
            items.append(
                _item(f"chat-{c:02d}-{f}", chat, texts, {"domain": "chat", "turns": 4}, rng)
            )
    return items


# --- labels, so the dashboard and the review queue have something to show ------------------

DEMO_RATERS = [
    # (username, how noisy their sense of quality is, seconds an item)
    ("rater-kim", 0.6, (40, 160)),
    ("rater-lee", 0.9, (30, 120)),
    ("rater-max", 3.0, (3, 9)),  # careless and fast: the dashboard flags them
]


def demo_labels(*, project: "Project", now: datetime, items: int = 60, seed: int = 11) -> int:
    """Three seed raters label the first `items` prompts through the real services, a
    little time apart, with their own noise: some prompts agree, some do not, a few
    responses are flagged. Returns how many annotations were made."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from labelling.guidelines import guideline_acknowledge
    from labelling.models import Membership, Response
    from labelling.queue import assignment_lease_next
    from labelling.services import membership_set
    from labelling.submission import annotation_submit

    rng = random.Random(seed)
    User = get_user_model()
    made = 0
    start = now - timedelta(days=6)
    for username, noise, (fast, slow) in DEMO_RATERS:
        rater, created = User.objects.get_or_create(username=username)
        if created:
            rater.set_unusable_password()
            rater.save()
        membership_set(
            project=project, user=rater, role=Membership.Role.ANNOTATOR, actor=None, now=start
        )
        guideline_acknowledge(
            project=project, user=rater, version=project.guideline_version, now=start
        )
        for index in range(items):
            leased_at = start + timedelta(days=index * 6 / items, minutes=rng.randint(0, 50))
            assignment = assignment_lease_next(
                project=project, annotator=rater, now=leased_at, rng=rng
            )
            if assignment is None:
                break
            responses = Response.objects.filter(pk__in=assignment.display_order)
            quality = {r.pk: -MODELS.index(r.model_name) + rng.gauss(0, noise) for r in responses}
            order = sorted(quality, key=lambda rid: quality[rid], reverse=True)
            ranking = [[rid] for rid in order]
            scores = {
                str(rid): {
                    c["key"]: max(1, min(7, round(6 - 1.5 * position + rng.gauss(0, noise))))
                    for c in CRITERIA
                }
                for position, rid in enumerate(order)
            }
            critiques = {str(order[-1]): "The weakest answer: it misses what was asked."}
            flags = {str(order[-1]): ["factual_error"]} if rng.random() < 0.08 else {}
            held = rng.randint(fast, slow)
            annotation_submit(
                assignment=assignment,
                annotator=rater,
                data={
                    "ranking": ranking,
                    "ratings": scores,
                    "critiques": critiques,
                    "flags": flags,
                },
                now=leased_at + timedelta(seconds=held),
                # What the page would have counted: most of the time held, idle aside.
                active_seconds=round(held * rng.uniform(0.6, 0.95)),
            )
            made += 1
    return made


DEMO_QUALIFICATION = "Arithmetic basics"


def demo_qualification(*, project: "Project", actor: "User", now: datetime) -> None:
    """A draft qualification set of three maths gold prompts nobody was given yet, for
    an admin to look at and require (labelling.qualification); a draft asks nothing of
    the raters. Made before the seed raters label, so that its prompts are never
    served as hidden gold; an older demo without one gets none."""
    from labelling.models import Assignment, Prompt, QualificationSet
    from labelling.qualification import ItemSpec, qualification_set_create

    if QualificationSet.objects.filter(project=project).exists():
        return
    unseen = list(
        Prompt.objects.filter(project=project, gold__isnull=False, external_id__startswith="maths-")
        .exclude(id__in=Assignment.objects.values("prompt_id"))
        .order_by("external_id")
        .values_list("external_id", flat=True)[:3]
    )
    if len(unseen) < 3:
        return
    why = (
        "The best response gives the right figure **and** shows how it got there; the one "
        "after it is right without the working. The two wrong answers tie last, however "
        "confident they sound: a wrong figure helps nobody."
    )
    qualification_set_create(
        project=project,
        name=DEMO_QUALIFICATION,
        threshold=0.8,
        attempts=2,
        items=[ItemSpec(prompt=ext, explanation=why) for ext in unseen],
        actor=actor,
        now=now,
    )
