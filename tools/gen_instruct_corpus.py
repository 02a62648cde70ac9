#!/usr/bin/python3
"""Writes the instruction-tuning corpus of the examples (Alpaca records: instruction, input,
output) and a byte-level BPE tokenizer trained on it. Deterministic: the same files every time.

  gen_instruct_corpus.py OUT.jsonl TOKENIZER.json
"""
import json
import os
import random
import subprocess
import sys
import tempfile

COLORS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple", "brown", "gray"]
NOUNS = ["river", "stone", "garden", "window", "teacher", "bridge", "forest", "candle", "engine",
         "letter", "market", "island", "ladder", "pocket", "rabbit", "silver", "tunnel", "violin"]
PLURALS = {"fox": "foxes", "box": "boxes", "city": "cities", "child": "children", "mouse": "mice",
           "leaf": "leaves", "knife": "knives", "bus": "buses", "tooth": "teeth", "man": "men",
           "baby": "babies", "dish": "dishes", "wolf": "wolves", "goose": "geese", "story": "stories",
           "foot": "feet", "berry": "berries", "glass": "glasses", "hero": "heroes", "key": "keys"}
OPPOSITES = {"hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "early": "late",
             "light": "dark", "open": "closed", "full": "empty", "hard": "soft", "high": "low",
             "old": "new", "rich": "poor", "strong": "weak", "wet": "dry", "loud": "quiet",
             "near": "far", "long": "short", "clean": "dirty", "thick": "thin", "true": "false"}


def records(rng):
    out = []
    for _ in range(160):
        a, b = rng.randint(1, 49), rng.randint(1, 49)
        out.append(("Add the two numbers.", f"{a} and {b}", str(a + b)))
    for _ in range(140):
        words = rng.sample(COLORS, rng.randint(2, 4))
        out.append(("Reverse the order of the words.", " ".join(words), " ".join(words[::-1])))
    for noun in NOUNS:
        out.append(("Write the word in capital letters.", noun, noun.upper()))
        out.append(("Spell the word backwards.", noun, noun[::-1]))
    for word, plural in PLURALS.items():
        out.append(("What is the plural of the noun?", word, plural))
        out.append(("Use the plural in a sentence.", word, f"I saw two {plural} today."))
    for word, opposite in OPPOSITES.items():
        out.append(("Give the opposite of the word.", word, opposite))
        out.append(("Give the opposite of the word.", opposite, word))
    for _ in range(80):
        words = rng.sample(NOUNS + COLORS, rng.randint(1, 6))
        out.append(("Count the words.", " ".join(words), str(len(words))))
    for color in COLORS:
        out.append((f"Name something that is often {color}.", "",
                    {"red": "A tomato.", "green": "Grass.", "blue": "The sky.",
                     "yellow": "A lemon.", "black": "Coal.", "white": "Snow.",
                     "orange": "An orange.", "purple": "A plum.", "brown": "Bread crust.",
                     "gray": "A cloud before rain."}[color]))
    rng.shuffle(out)
    return out


def main(out_path, tokenizer_path):
    rng = random.Random(7)
    rows = records(rng)
    with open(out_path, "w", encoding="utf-8") as f:
        for instruction, inp, output in rows:
            f.write(json.dumps({"instruction": instruction, "input": inp, "output": output}) + "\n")
    # The tokenizer learns from the text the model will see: the prompts and the answers.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as t:
        for instruction, inp, output in rows:
            t.write(f"### Instruction:\n{instruction}\n\n### Input:\n{inp}\n\n### Response:\n"
                    f"{output}\n")
        t.write("Below is an instruction that describes a task, paired with an input that "
                "provides further context. Write a response that appropriately completes the "
                "request.\n" * 50)
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["/usr/bin/python3", os.path.join(here, "bpe_train.py"), t.name, "400",
                    tokenizer_path], check=True)
    os.unlink(t.name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
