"""The tune tests reuse train's tiny transformed corpus (64 train / 24 eval reviews, no test
split), built once per session by the real transform component."""

from tests.components.train.conftest import text_artifacts  # noqa: F401
