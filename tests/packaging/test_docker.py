"""test_docker.py - packaging/docker/Dockerfile, checked without a container
engine (none runs here): every file it copies exists, it builds on Debian 12
with tools/install-deps.sh, every option it passes to CMake exists, it builds
every program the package installs, and it runs aviary-smtpd as `aviary` from
the path the package installs it to.
"""

import json
import re
import unittest

from aviary_test.packaging_case import PACKAGING
from aviary_test.programs import SOURCE

DOCKERFILE = PACKAGING / "docker" / "Dockerfile"


def instructions():
    """[(INSTRUCTION, arguments)] with continuation lines joined."""
    out = []
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


class DockerfileTest(unittest.TestCase):

    def test_copy_sources_exist(self):
        copies = [args for word, args in instructions() if word == "COPY" and not args.startswith("--from")]
        self.assertTrue(copies)
        for args in copies:
            *sources, _dest = args.split()
            for source in sources:
                with self.subTest(source=source):
                    self.assertTrue((SOURCE / source).exists(), f"COPY {source}: no such file in the checkout")

    def test_copies_every_top_level_cmake_subdirectory(self):
        copied = {args.split()[0] for word, args in instructions() if word == "COPY" and not args.startswith("--from")}
        top = (SOURCE / "CMakeLists.txt").read_text()
        # tests/ is only added with AVIARY_BUILD_TESTS, which the image turns off.
        needed = set(re.findall(r"^add_subdirectory\((\w+)\)", top, re.M)) - {"tests"}
        self.assertTrue(needed)
        self.assertEqual(needed - copied, set())

    def test_debian_12_and_install_deps(self):
        froms = [args.split()[0] for word, args in instructions() if word == "FROM"]
        self.assertEqual(froms, ["debian:12", "debian:12"])
        runs = " ".join(args for word, args in instructions() if word == "RUN")
        self.assertIn("tools/install-deps.sh", runs)
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", runs)
        self.assertIn("cpack", runs)

    def test_cmake_options_exist(self):
        runs = " ".join(args for word, args in instructions() if word == "RUN")
        top = (SOURCE / "CMakeLists.txt").read_text()
        for option in re.findall(r"-D(AVIARY_\w+)=", runs):
            self.assertRegex(top, rf"option\({option}\b", option)

    def test_builds_every_packaged_program(self):
        runs = " ".join(args for word, args in instructions() if word == "RUN")
        built = set(re.search(r"--target ([\w\- ]+?)(?: &&|$)", runs).group(1).split())
        packaging = (PACKAGING / "CMakeLists.txt").read_text()
        installed = set()
        for targets in re.findall(r"install\(TARGETS ([\w\- ]+?) DESTINATION", packaging):
            installed |= set(targets.split())
        self.assertEqual(installed, {"aviary-smtpd", "aviary-pop3d", "aviaryctl"})
        self.assertEqual(installed - built, set())

    def test_runs_smtpd_as_aviary(self):
        ins = instructions()
        last_stage = ins[max(i for i, (word, _) in enumerate(ins) if word == "FROM"):]
        users = [args for word, args in last_stage if word == "USER"]
        self.assertEqual(users, ["aviary"])
        cmd = json.loads(next(args for word, args in last_stage if word == "CMD"))
        self.assertEqual(cmd, ["/usr/sbin/aviary-smtpd", "-c", "/etc/aviary/aviary.toml"])
        # ... which is where the package puts it.
        self.assertIn("install(TARGETS aviary-smtpd aviary-pop3d DESTINATION sbin)", (PACKAGING / "CMakeLists.txt").read_text())


if __name__ == "__main__":
    unittest.main()
