import inspect
import sys

import pytest

from rpsbook.listing import SourceListing, show_source


def sample(x: int) -> int:
    """Docstring of the sample.

    Two lines long.
    """
    y = x + 1  # a comment with <angle> & brackets
    return y * 2


class Holder:
    def method(self) -> str:
        """One line."""
        return "value"


def decorated_target():
    return 1


def _decorator(function):
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


decorated = _decorator(decorated_target)
FIRST = inspect.getsourcelines(sample)[1]


def test_whole_function_is_its_source_with_file_line_numbers():
    listing = show_source(sample)
    assert isinstance(listing, SourceListing)
    assert repr(listing) == inspect.getsource(sample)
    assert listing.name == f"{__name__}.sample"
    assert (listing.first_line, listing.last_line) == (FIRST, FIRST + 6)


def test_docstring_dropped_keeps_the_real_line_numbers():
    listing = show_source(sample, docstring=False)
    assert repr(listing) == (
        "def sample(x: int) -> int:\n"
        "    y = x + 1  # a comment with <angle> & brackets\n"
        "    return y * 2\n"
    )
    assert (listing.first_line, listing.last_line) == (FIRST, FIRST + 6)


def test_method_is_dedented():
    listing = show_source(Holder.method, docstring=False)
    assert repr(listing) == 'def method(self) -> str:\n    return "value"\n'
    assert listing.name == f"{__name__}.Holder.method"


def test_lines_by_number_and_by_text_and_dedented():
    assert repr(show_source(sample, lines=(6, 7))) == (
        "y = x + 1  # a comment with <angle> & brackets\nreturn y * 2\n"
    )
    by_text = show_source(sample, lines=("y = x", "return"))
    assert repr(by_text) == repr(show_source(sample, lines=(6, 7)))
    assert by_text.first_line == FIRST + 5


def test_last_text_is_searched_from_first():
    # "x" first appears on the def line; from "y =" on, the next line with "y" is "y =" itself
    assert repr(show_source(sample, lines=("y =", "y"))) == (
        "y = x + 1  # a comment with <angle> & brackets\n"
    )


def test_wrapped_function_shows_the_original():
    assert "return 1" in repr(show_source(decorated))
    assert show_source(decorated).name.endswith("decorated_target")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("not there", 2), r"lines\[0\]='not there' is not in the source"),
        ((1, "nowhere"), r"lines\[1\]='nowhere' is not in the source"),
        ((0, 2), r"lines\[0\]=0 is out of range"),
        ((1, 99), r"lines\[1\]=99 is out of range"),
        ((6, 2), r"lines\[1\]=2 is out of range"),
    ],
)
def test_bad_lines_name_the_argument(lines, message):
    with pytest.raises(ValueError, match=message):
        show_source(sample, lines=lines)


def test_object_without_source_is_a_type_error():
    with pytest.raises(TypeError, match="obj=<built-in function len> has no Python source"):
        show_source(len)


def test_html_is_escaped_labelled_and_highlighted():
    page = show_source(sample)._repr_html_()
    assert page.startswith('<div class="rpsbook-listing">')
    assert f'<pre aria-label="{__name__}.sample">' in page
    assert "&lt;angle&gt; &amp; brackets" in page and "<angle>" not in page
    assert '<span class="k">def</span>' in page  # pygments' short class names
    assert f"rpsbook's source: <code>{__name__}.sample</code>" in page


def test_html_without_pygments_is_an_escaped_pre(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygments", None)  # import pygments fails
    page = show_source(sample)._repr_html_()
    assert f'<pre aria-label="{__name__}.sample">def sample(x: int) -&gt; int:' in page
    assert "&lt;angle&gt;" in page and "<span" not in page


def test_library_functions_the_pages_show():
    from rpsbook.data import statistics_per_channel
    from rpsbook.models import CNN2

    listing = show_source(statistics_per_channel, docstring=False)
    assert repr(listing).startswith("def statistics_per_channel(")
    assert "torch.std_mean(flat, dim=2)" in repr(listing)  # the page's prose names it
    assert repr(show_source(CNN2.forward, docstring=False)).startswith("def forward(self")


class Templated:
    def render(self) -> str:
        """Docstring to drop."""
        template = """
first line at column 0
second line
"""
        return template


def test_docstring_false_on_a_method_with_a_string_at_column_0():
    """dedent cannot remove the method's indentation; this raised IndentationError."""
    listing = show_source(Templated.render, docstring=False)
    assert "Docstring to drop" not in repr(listing)
    assert repr(listing).splitlines()[:2] == [
        "    def render(self) -> str:",
        '        template = """',
    ]
    assert repr(listing).endswith("        return template\n")


def _api_page_objects() -> list[tuple[str, object]]:
    """Every public class and function of the modules that docs/api.rst lists."""
    import importlib
    import re
    from pathlib import Path

    api = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
    found = []
    for module_name in re.findall(r"^   (rpsbook[\w.]*)$", api, flags=re.MULTILINE):
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.append((f"{module_name}.{name}", obj))
    return found


def test_every_class_and_function_of_the_api_page_has_a_listing():
    objects = _api_page_objects()
    assert len(objects) > 100 and "rpsbook.data.RPSData" in dict(objects)
    for name, obj in objects:
        assert show_source(obj).name == name


def test_a_class_rehome_gave_its_package_is_read_from_the_submodule_defining_it():
    """``rpsbook._exports.rehome`` names the package; the source lives in a submodule."""
    from rpsbook.data import RPSData, loaders
    from rpsbook.paths import RegressionData, regression

    for cls, module in ((RPSData, loaders), (RegressionData, regression)):
        listing = show_source(cls)
        assert listing.name == f"{cls.__module__}.{cls.__qualname__}"
        assert f"class {cls.__name__}" in repr(listing)
        source = inspect.getsource(module).splitlines(keepends=True)
        shown = source[listing.first_line - 1 : listing.last_line]
        assert "".join(shown) == repr(listing)
