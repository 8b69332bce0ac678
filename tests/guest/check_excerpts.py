"""check_excerpts.py -- the code docs/embedding.md quotes from the example
hosts is the code they run.

Run by ctest as `python3 check_excerpts.py SOURCE-DIR`.  In the guide, a
line `<!-- excerpt: PATH -->` before a ```c block says the block is quoted
from PATH (relative to the source tree): each of its lines, in order, must
be a line of PATH, after the previous one matched.  Blank lines and lines
that are only a `/* ... */` comment (an elision, possibly with words after
the dots) are not looked for.  Fails naming the first line that is not
there, so an edit of an example that leaves the guide behind is caught.
"""

import re
import sys


def check(src, doc):
    text = open("%s/%s" % (src, doc)).read()
    blocks = re.findall(r"<!-- excerpt: (\S+) -->\n```c\n(.*?)```", text,
                        re.S)
    failures = 0
    for path, block in blocks:
        lines = open("%s/%s" % (src, path)).read().split("\n")
        at = 0
        for line in block.split("\n"):
            if not line.strip() or re.fullmatch(r"\s*/\* \.\.\..*\*/", line):
                continue
            try:
                at = lines.index(line, at) + 1
            except ValueError:
                print("FAIL: %s quotes from %s a line that is not there (or "
                      "not in that order):\n    %s" % (doc, path, line))
                failures += 1
                break
        else:
            print("ok: %s: the excerpt of %s" % (doc, path))
    return len(blocks), failures


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: %s SOURCE-DIR" % sys.argv[0])
    count, failures = check(sys.argv[1], "docs/embedding.md")
    if count == 0:
        print("FAIL: docs/embedding.md has no excerpt to check")
        failures += 1
    print("%d passed, %d failed" % (count - min(failures, count), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
