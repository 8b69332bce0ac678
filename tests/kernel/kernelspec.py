"""kernelspec.py -- `aa-kernel --install` writes the kernelspec Jupyter
starts aa-kernel from.

    /usr/bin/python3 kernelspec.py AA-KERNEL [unittest args]

- `--install --prefix D` writes D/share/jupyter/kernels/autoawait/kernel.json
  and prints its path; the file holds argv [the absolute path of aa-kernel,
  "-f", "{connection_file}"], display_name "Python 3 (autoawait)", language
  python, interrupt_mode message; `jupyter kernelspec list` with
  JUPYTER_PATH=D/share/jupyter shows autoawait there, and jupyter_client's
  KernelSpecManager reads the same spec;
- `--name NAME` names the folder;
- `--user` writes into $JUPYTER_DATA_DIR/kernels, or without it into
  ~/.local/share/jupyter/kernels (HOME a temporary folder);
- a prefix that cannot be written is an error that names it, exit status
  not 0.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

AA_KERNEL = None


class Kernelspec(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aa-kernelspec-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.home = os.path.join(self.tmp, "home")
        os.mkdir(self.home)

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "PYTHON", "XDG_"))}
        env.update(HOME=self.home, LC_ALL="C.UTF-8")
        env.update(extra)
        return env

    def install(self, *args, env=None, ok=True):
        p = subprocess.run([AA_KERNEL, "--install", *args],
                           env=env or self.env(), capture_output=True,
                           text=True, timeout=60, cwd=self.tmp)
        if ok:
            self.assertEqual(p.returncode, 0,
                             "aa-kernel --install %s failed:\n%s%s"
                             % (" ".join(args), p.stdout, p.stderr))
        return p

    def check_spec(self, p, path):
        self.assertTrue(os.path.isfile(path), "no %s" % path)
        self.assertIn(path, p.stdout + p.stderr,
                      "aa-kernel --install did not print the path")
        with open(path) as f:
            spec = json.load(f)
        argv = spec["argv"]
        self.assertTrue(os.path.isabs(argv[0]), argv)
        self.assertEqual(os.path.realpath(argv[0]),
                         os.path.realpath(AA_KERNEL))
        self.assertEqual(argv[1:], ["-f", "{connection_file}"])
        self.assertEqual(spec["display_name"], "Python 3 (autoawait)")
        self.assertEqual(spec["language"], "python")
        self.assertEqual(spec["interrupt_mode"], "message")
        return spec

    def test_prefix(self):
        prefix = os.path.join(self.tmp, "prefix")
        p = self.install("--prefix", prefix)
        data = os.path.join(prefix, "share", "jupyter")
        path = os.path.join(data, "kernels", "autoawait", "kernel.json")
        self.check_spec(p, path)

        env = self.env(JUPYTER_PATH=data,
                       JUPYTER_DATA_DIR=os.path.join(self.tmp, "nodata"))
        listed = subprocess.run(
            ["/usr/bin/python3", "-m", "jupyter_client.kernelspecapp",
             "list", "--json"],
            env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        specs = json.loads(listed.stdout)["kernelspecs"]
        self.assertIn("autoawait", specs)
        self.assertEqual(os.path.realpath(specs["autoawait"]["resource_dir"]),
                         os.path.realpath(os.path.dirname(path)))
        # The command users type, too (Debian's jupyter-client has it).
        if shutil.which("jupyter-kernelspec"):
            listed = subprocess.run(["jupyter", "kernelspec", "list"],
                                    env=env, capture_output=True, text=True,
                                    timeout=60)
            self.assertEqual(listed.returncode, 0, listed.stderr)
            self.assertRegex(listed.stdout, r"(?m)^\s*autoawait\s+\S")
        else:
            sys.stderr.write("kernelspec: no jupyter-kernelspec (Debian: "
                             "jupyter-client), `jupyter kernelspec list` "
                             "left out\n")

        # What jupyter_client starts: the spec's argv and interrupt mode.
        code = ("import json; from jupyter_client.kernelspec import "
                "KernelSpecManager as M; s = M().get_kernel_spec('autoawait');"
                " print(json.dumps([s.argv, s.interrupt_mode, s.language]))")
        got = subprocess.run(["/usr/bin/python3", "-c", code], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(got.returncode, 0, got.stderr)
        argv, mode, language = json.loads(got.stdout)
        self.assertEqual(argv[1:], ["-f", "{connection_file}"])
        self.assertEqual(mode, "message")
        self.assertEqual(language, "python")

    def test_name(self):
        prefix = os.path.join(self.tmp, "prefix")
        p = self.install("--prefix", prefix, "--name", "aa-test")
        self.check_spec(p, os.path.join(prefix, "share", "jupyter", "kernels",
                                        "aa-test", "kernel.json"))
        self.assertFalse(os.path.exists(os.path.join(
            prefix, "share", "jupyter", "kernels", "autoawait")))

    def test_user_data_dir(self):
        data = os.path.join(self.tmp, "data")
        p = self.install("--user", env=self.env(JUPYTER_DATA_DIR=data))
        self.check_spec(p, os.path.join(data, "kernels", "autoawait",
                                        "kernel.json"))

    def test_user_home(self):
        p = self.install("--user")
        self.check_spec(p, os.path.join(self.home, ".local", "share",
                                        "jupyter", "kernels", "autoawait",
                                        "kernel.json"))

    def test_prefix_not_writable(self):
        blocker = os.path.join(self.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("not a folder\n")
        p = self.install("--prefix", blocker, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(blocker, p.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        raise SystemExit("usage: kernelspec.py AA-KERNEL [unittest args]")
    AA_KERNEL = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
