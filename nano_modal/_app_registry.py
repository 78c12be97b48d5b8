"""What an App holds: its functions, classes and local entrypoints, by tag, and other apps'
brought in with `include`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self, cast

from .cls import Cls
from .exception import InvalidError
from .functions import Function

if TYPE_CHECKING:
    from .app import App, LocalEntrypoint


class AppRegistry:
    """The registry half of App (its decorators fill it)."""

    tags: dict[str, str]
    _functions: dict[str, Function]
    _classes: dict[str, Cls]
    _entrypoints: dict[str, LocalEntrypoint]

    @property
    def description(self) -> str:
        raise NotImplementedError

    def _registered(self) -> dict[str, Function | Cls]:
        return {**self._functions, **self._classes}

    @property
    def registered_functions(self) -> dict[str, Function]:
        """The app's functions, by tag."""
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        """The app's classes, by tag."""
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        """The app's local entrypoints, by name."""
        return dict(self._entrypoints)

    @property
    def registered_web_endpoints(self) -> list[str]:
        """Tags of the app's functions that serve HTTP."""
        return [tag for tag, fn in self._functions.items() if fn.options.web is not None]

    def include(self, /, other_app: App, inherit_tags: bool = True) -> Self:
        """Make another app's functions and classes part of this one: they run (and deploy) with
        it, so an app can be split across files. With `inherit_tags`, the other app's tags are
        added to this one's (this app's win where both name a tag)."""
        if inherit_tags:
            self.tags = {**other_app.tags, **self.tags}
        for tag, target in other_app._registered().items():
            mine = self._registered().get(tag)
            if mine is not None and mine is not target:
                raise InvalidError(f"app {self.description} already has a function or class named {tag}")
            target.app = cast("App", self)
            if isinstance(target, Cls):
                self._classes[tag] = target
            else:
                self._functions[tag] = target
        return self
