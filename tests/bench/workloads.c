/*
 * workloads.c -- the cells aa-bench runs, in one table that aa_exec, the
 * floor and the peers (through --dump-workloads) all read.
 *
 * Every template carries BENCH_COUNTER, replaced by a number no other cell
 * of the run has, so that no cache of compiled cells can serve a cell.
 * Multi-line cells are written the way a console can take them pasted
 * line by line (a blank line after each top-level block and none inside),
 * so that the console-style peer runs the very same text.  The targets are
 * issue 5's.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

/* A function, a loop, comprehensions: about as much compiling as running. */
static const char cell30[] =
    "def stats(values, scale=@N@):\n"
    "    total = 0\n"
    "    biggest = None\n"
    "    for v in values:\n"
    "        total += v * scale\n"
    "        if biggest is None or v > biggest:\n"
    "            biggest = v\n"
    "    mean = total / len(values)\n"
    "    return {'total': total, 'mean': mean, 'max': biggest}\n"
    "\n"
    "data = [(i * 7 + @N@) % 101 for i in range(50)]\n"
    "evens = [v for v in data if v % 2 == 0]\n"
    "squares = {v: v * v for v in evens}\n"
    "acc = 0\n"
    "for i, v in enumerate(data):\n"
    "    if i % 3 == 0:\n"
    "        acc += v\n"
    "    elif i % 3 == 1:\n"
    "        acc -= v // 2\n"
    "    else:\n"
    "        acc ^= v\n"
    "\n"
    "words = ['cell', 'bench', 'loop', 'await']\n"
    "labels = [f'{w}-{n}' for n, w in enumerate(words)]\n"
    "result = stats(data)\n"
    "total = result['total'] + acc\n"
    "pairs = sorted(squares.items())[:5]\n"
    "summary = (len(evens), len(labels), total)\n"
    "first, *rest = data\n"
    "check = all(isinstance(v, int) for v in rest)\n";

/* Ten lines, repeated 200 times with K the block's number: mostly
 * compiling, a little running (200 small functions defined and called). */
static const char cell2000_block[] =
    "def fn_%d(a, b=@N@):\n"
    "    if a > b:\n"
    "        return a - b\n"
    "    return [a, b, %d]\n"
    "\n"
    "v_%d = fn_%d(%d, @N@)\n"
    "w_%d = v_%d if isinstance(v_%d, int) else len(v_%d)\n"
    "t_%d = (w_%d, 'k%d', @N@ + %d)\n"
    "s_%d = {'k': %d, 'w': w_%d}\n"
    "u_%d = w_%d * 2 + %d\n";

static char cell2000[2000 / 10 * (sizeof cell2000_block + 64)];

/* Blocks of 1,000 tiny cells (with the default --cells) take a few ms;
 * the bigger cells come in smaller blocks so that a block stays short and
 * the two sides still alternate often, the 2,000-line cell in blocks of
 * two over five times the rounds. */
bench_workload bench_workloads[] = {
    {.name = "x_assign",
     .label = "x = N",
     .runner = "asyncio",
     .setup = "",
     .tmpl = "x = @N@",
     .divisor = 1,
     .more_rounds = 1,
     .target = 1.5,
     .ipy_target = 20},
    {.name = "x_add",
     .label = "x + N (displayed)",
     .runner = "asyncio",
     .setup = "x = 1",
     .tmpl = "x + @N@",
     .divisor = 1,
     .more_rounds = 1,
     .target = 1.5,
     .ipy_target = 20},
    {.name = "sleep0",
     .label = "await asyncio.sleep(0)",
     .runner = "asyncio",
     .setup = "import asyncio",
     .tmpl = "await asyncio.sleep(0)  # @N@",
     .divisor = 1,
     .more_rounds = 1,
     .target = 1.25,
     .ipy_target = 5},
    {.name = "await_f",
     .label = "await f(N) (displayed)",
     .runner = "asyncio",
     .setup = "import asyncio\n"
              "async def f(n):\n"
              "    return n + 1\n",
     .tmpl = "await f(@N@)",
     .divisor = 1,
     .more_rounds = 1,
     .target = 1.25,
     .ipy_target = 5},
    {.name = "cell30",
     .label = "30-line cell",
     .runner = "asyncio",
     .setup = "",
     .tmpl = cell30,
     .divisor = 10,
     .more_rounds = 1,
     .target = 1.1},
    {.name = "trio",
     .label = "await trio.sleep(0) (trio)",
     .runner = "trio",
     .setup = "import trio",
     .tmpl = "await trio.sleep(0)  # @N@",
     .divisor = 10,
     .more_rounds = 1,
     .target = 1.2},
    {.name = "uvloop",
     .label = "await asyncio.sleep(0) (uvloop)",
     .runner = "uvloop",
     .setup = "import asyncio",
     .tmpl = "await asyncio.sleep(0)  # @N@",
     .divisor = 10,
     .more_rounds = 1,
     .target = 1.5},
    {.name = "cell2000",
     .label = "2,000-line cell",
     .runner = "asyncio",
     .setup = "",
     .tmpl = cell2000,
     .divisor = 500,
     .more_rounds = 5,
     .target = 1.1},
};
const size_t bench_nworkloads =
    sizeof bench_workloads / sizeof *bench_workloads;

void bench_workloads_init(void)
{
    size_t used = 0;
    int k;

    for (k = 0; k < 2000 / 10; k++) {
        used += (size_t)snprintf(cell2000 + used, sizeof cell2000 - used,
                                 cell2000_block, k, k, k, k, k, k, k, k, k, k,
                                 k, k, k, k, k, k, k, k, k);
    }
}
