"""Writes the small labelled sentiment set the `text-bert` preset trains on by default: data/reviews/reviews.csv.

Short movie-review sentences built from hand-written phrases (this project's own text, no external source), with
commas and quotes inside fields. Deterministic: `python data/make_reviews.py` rewrites the same file.
"""
import csv
import pathlib
import random

SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the script",
            "the cast", "the direction", "the story", "the dialogue", "the pacing"]
POSITIVE = ["was wonderful", "was brilliant", "felt fresh and moving", "is a joy to watch", "was superb",
            "kept me hooked", "was beautifully done", "is simply great", "made me smile", "was a delight"]
NEGATIVE = ["was boring", "was a mess", "felt dull and lifeless", "is painful to watch", "was awful",
            "put me to sleep", "was badly done", "is simply terrible", "made me cringe", "was a disaster"]
POSITIVE_TAILS = ["", ", I loved it", ". Highly recommended!", ", \"a must see\" as my friend said",
                  ". I would watch it again", ", ten out of ten"]
NEGATIVE_TAILS = ["", ", I hated it", ". Avoid it!", ", \"a waste of time\" as my friend said",
                  ". I want my money back", ", one out of ten"]


def make_rows(count: int, seed: int = 7):
  rng = random.Random(seed)
  rows = []
  for i in range(count):
    positive = i % 2 == 0
    verb = rng.choice(POSITIVE if positive else NEGATIVE)
    tail = rng.choice(POSITIVE_TAILS if positive else NEGATIVE_TAILS)
    text = f"{rng.choice(SUBJECTS).capitalize()} {verb}{tail}"
    rows.append((text, "positive" if positive else "negative"))
  return rows


if __name__ == "__main__":
  target = pathlib.Path(__file__).resolve().parent / "reviews" / "reviews.csv"
  target.parent.mkdir(exist_ok=True)
  with open(target, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["text", "label"])
    writer.writerows(make_rows(400))
  print(f"wrote 400 reviews to {target}")
