"""A python3 workload for the allocator comparison (docs/bench-malloc.md).

Run it under /usr/bin/time -f '%M %e' to get the peak resident set (KiB) and the wall
time; it prints one line, "checksum <n>", so that a wrong result shows. Every step is
deterministic. An argument N scales it: the dict gets N entries (default 1,000,000) and
every other phase grows with it. Each phase keeps what it built until the end, so the
peak is reached with all of them alive, then everything is dropped.
"""

import json
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000

# A dict of N entries: str keys, int and tuple values.
d = {f"key{i}": (i, i * 2) if i % 3 == 0 else i for i in range(N)}

# List comprehensions: ints, floats, strings, nested lists.
squares = [i * i for i in range(N)]
floats = [i / 7.0 for i in range(0, N, 2)]
words = [str(i) for i in range(0, N, 3)]
nested = [[j for j in range(i % 16)] for i in range(N // 5)]

# JSON round trip of a list of small records.
records = [{"id": i, "name": f"user{i}", "tags": ["a", "b", str(i % 10)], "score": i * 0.5}
           for i in range(N // 5)]
text = json.dumps(records)
back = json.loads(text)

# String building: join, repeated concatenation, formatting.
parts = []
for i in range(N * 3 // 10):
    parts.append(f"{i}:{i % 97};")
joined = "".join(parts)
s = ""
for i in range(N // 10):
    s += chr(97 + i % 26)

checksum = (len(d) + sum(squares) % 1_000_003 + int(sum(floats)) % 1_000_003 + len(words)
            + sum(len(x) for x in nested) + len(text) + len(back) + len(joined) + len(s))

del d, squares, floats, words, nested, records, text, back, parts, joined, s
print("checksum", checksum)
