"""Print the N-th fenced code block of README.md (1-based), so CI runs the README's own commands."""
import re
import sys
from pathlib import Path

n = int(sys.argv[1])
blocks = re.findall(r"^```[a-z]*\n(.*?)^```", Path("README.md").read_text(), flags=re.S | re.M)
if len(blocks) < n:
    sys.exit(f"README.md has {len(blocks)} fenced code blocks, wanted block {n}")
print(blocks[n - 1].strip())
