"""Only the build step pyproject.toml cannot express: the wheel carries the repository's
top-level bttackler.toml and search_spaces/ inside the bttackler package, where
bttackler.core.resources looks for them (a checkout reads them where they are)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TOP_LEVEL_DATA = ("bttackler.toml", "search_spaces")


class BuildPyWithTopLevelData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own files
        target = Path(self.build_lib) / "bttackler"
        for name in TOP_LEVEL_DATA:
            source = Path(name)
            files = sorted(source.glob("*.yaml")) if source.is_dir() else [source]
            for file in files:
                self.mkpath(str(target / file.parent))
                self.copy_file(str(file), str(target / file))


setup(cmdclass={"build_py": BuildPyWithTopLevelData})
