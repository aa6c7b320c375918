"""tap.py - runs a module's unittest tests and prints TAP on stdout (a `1..N`
plan, then `ok N - name` / `not ok N - name` per test method, `# SKIP` for
skips), so meson (protocol 'tap') and scripts/test count test cases. unittest's
own report, and the stderr of the servers a failed test ran (its
`server_logs`), go to stderr. Shared by the Python tests in this folder."""
import sys
import unittest


class TapResult(unittest.TextTestResult):
    """One TAP line per test method, written when the method (with its
    subtests) is over."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = 0

    def startTest(self, test):
        super().startTest(test)
        self._bad = False
        self._skip = None

    def addError(self, test, err):
        super().addError(test, err)
        self._bad = True

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._bad = True

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._bad = True

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._bad = True

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._skip = reason

    def stopTest(self, test):
        super().stopTest(test)
        self.number += 1
        name = getattr(test, "_testMethodName", str(test))
        if self._skip is not None:
            line = "ok %d - %s # SKIP %s" % (self.number, name, self._skip)
        elif self._bad:
            line = "not ok %d - %s" % (self.number, name)
            for i, log in enumerate(getattr(test, "server_logs", None) or []):
                self.stream.write("--- server %d stderr (%s) ---\n%s" % (i, name, log))
            self.stream.flush()
        else:
            line = "ok %d - %s" % (self.number, name)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main(module, argv):
    """Runs the tests of `module` (a module object); `-k PATTERN` picks a
    subset. @return the process exit status."""
    loader = unittest.TestLoader()
    patterns = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-k"]
    if patterns:
        loader.testNamePatterns = ["*%s*" % p for p in patterns]
    suite = loader.loadTestsFromModule(module)
    print("1..%d" % suite.countTestCases(), flush=True)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=TapResult)
    return 0 if runner.run(suite).wasSuccessful() else 1
