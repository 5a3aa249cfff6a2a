"""Definitions per language, and the names near the cursor whose definitions are wanted."""

from __future__ import annotations

import pytest

from infill.context.definitions import Definition, extract_definitions, identifiers_near_cursor
from infill.context.syntax import LANGUAGE_NAMES, SyntaxTree, get_language

PYTHON = '''\
"""Module doc."""
import os
from collections import OrderedDict as OD

MAX_SIZE = 10
name: str = "x"


@dataclass(frozen=True)
class Point(Base):
    """A point."""

    x: int
    y: int = 0

    @property
    def norm(self) -> float:
        """Length."""
        return (self.x**2 + self.y**2) ** 0.5

    def scale(self, k: float) -> "Point":
        return Point(self.x * k, self.y * k)


# Adds numbers.
def add(a: int, b: int) -> int:
    def inner():
        pass
    return a + b
'''

JAVASCRIPT = """\
import { readFile } from "fs";

const MAX_ITEMS = 100;

/**
 * Loads a config file.
 */
export async function loadConfig(path) {
  const text = await readFile(path, "utf8");
  return JSON.parse(text);
}

export class Store extends Base {
  constructor(items) {
    super();
    this.items = items;
  }

  get size() {
    return this.items.length;
  }

  add(item) {
    this.items.push(item);
  }
}

const double = (x) => x * 2;

module.exports.helper = function () {
  return 1;
};
"""

TYPESCRIPT = """\
import { Shape } from "./shape";

/** Default radius. */
export const DEFAULT_RADIUS = 1;

export interface Sized {
  size(): number;
}

export type Pair<T> = [T, T];

enum Color { Red, Green }

@sealed
export class Circle extends Shape implements Sized {
  constructor(private radius: number) {
    super();
  }

  size(): number {
    return Math.PI * this.radius ** 2;
  }
}

export function area(c: Circle): number {
  const helper = () => 1;
  return c.size();
}

export abstract class Base {
  abstract run(): void;
}

const double = (x: number): number => x * 2;
"""

GO = """\
package shapes

import (
    "fmt"
    "math"
)

// MaxSides bounds polygons.
const MaxSides = 12

// Shape is anything with an area.
type Shape interface {
    Area() float64
}

// Circle is round.
type Circle struct {
    Radius float64
}

// Area returns the area.
func (c *Circle) Area() float64 {
    return math.Pi * c.Radius * c.Radius
}

func Describe(s Shape) string {
    return fmt.Sprintf("%.2f", s.Area())
}
"""

RUST = """\
use std::fmt;

/// Largest size.
pub const MAX: usize = 10;

/// A 2-D point.
#[derive(Debug, Clone)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

pub enum Shape {
    Circle(f64),
    Square(f64),
}

pub trait Area {
    fn area(&self) -> f64;
}

impl Point {
    /// Makes a point.
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
}

type Meters = f64;

pub fn distance(a: &Point, b: &Point) -> f64 {
    let dx = a.x - b.x;
    ((dx * dx) + (a.y - b.y).powi(2)).sqrt()
}

mod tests {
    fn helper() {}
}
"""

JAVA = """\
package shapes;

import java.util.List;

/** A circle. */
public class Circle implements Shape {
    private final double radius;

    public Circle(double radius) {
        this.radius = radius;
    }

    @Override
    public double area() {
        return Math.PI * radius * radius;
    }
}

interface Shape {
    double area();
}

enum Color { RED, GREEN }
"""

C = """\
#include <stdio.h>

#define MAX_POINTS 64

/* A point in the plane. */
struct point {
    double x;
    double y;
};

typedef struct {
    int count;
} counter_t;

enum color { RED, GREEN };

int add(int a, int b);

/* Adds two ints. */
int add(int a, int b)
{
    int helper(int);
    return a + b;
}

static const char *name(void) {
    return "c";
}
"""

CPP = """\
#include <vector>

namespace geo {

class Shape {
public:
    virtual double area() const = 0;
    virtual ~Shape() = default;
};

struct Square : Shape {
    double side;
    double area() const override { return side * side; }
};

template <typename T>
T twice(T value) {
    return value * 2;
}

}  // namespace geo

double geo_total(const std::vector<geo::Shape*>& shapes) {
    double sum = 0;
    for (auto* s : shapes) sum += s->area();
    return sum;
}

double geo::Circle::area() const { return 3.14; }
"""

C_SHARP = """\
using System;
using System.Collections.Generic;

namespace Shapes
{
    /// <summary>A shape.</summary>
    public interface IShape
    {
        double Area();
    }

    [Serializable]
    public class Circle : IShape
    {
        private readonly double radius;

        public Circle(double radius)
        {
            this.radius = radius;
        }

        public double Area()
        {
            return Math.PI * radius * radius;
        }
    }

    public struct Point { public int X; public int Y; }

    public enum Color { Red, Green }

    public record Person(string Name);
}
"""

RUBY = """\
require "json"

MAX_SIZE = 10

# A shape with an area.
module Shapes
  # A circle.
  class Circle < Base
    attr_reader :radius

    def initialize(radius)
      @radius = radius
    end

    def area
      Math::PI * radius**2
    end

    def self.unit
      new(1)
    end
  end
end

def describe(shape)
  "area: #{shape.area}"
end
"""

PHP = """\
<?php

namespace App\\Shapes;

use App\\Contracts\\Shape;

const MAX_SIDES = 12;

interface HasArea
{
    public function area(): float;
}

/**
 * A circle.
 */
class Circle implements HasArea
{
    private float $radius;

    public function __construct(float $radius)
    {
        $this->radius = $radius;
    }

    public function area(): float
    {
        return M_PI * $this->radius ** 2;
    }
}

trait Loggable
{
    public function log(string $msg): void {}
}

function describe(HasArea $shape): string
{
    return "area: " . $shape->area();
}
"""

LUA = """\
local M = {}

--- Adds two numbers.
function M.add(a, b)
  return a + b
end

function M:describe()
  return "module"
end

local function helper(x)
  return x * 2
end

M.double = function(x)
  return helper(x)
end

function greet(name)
  print("hi " .. name)
end

return M
"""

BASH = """\
#!/usr/bin/env bash
set -euo pipefail

# Prints usage.
usage() {
  echo "usage: $0 FILE"
}

function build {
  local target="$1"
  make "$target"
}

main() {
  usage
  build all
}

main "$@"
"""

# (name, kind, start_line, end_line): lines from 0, with decorators, attributes and the comment
# right above; nested functions (Python's `inner`, C's local `helper`) are not listed.
EXPECTED = {
    "python": (
        PYTHON,
        [
            ("MAX_SIZE", "constant", 4, 4),
            ("name", "constant", 5, 5),
            ("Point", "class", 8, 21),
            ("norm", "method", 15, 18),
            ("scale", "method", 20, 21),
            ("add", "function", 24, 28),
        ],
    ),
    "javascript": (
        JAVASCRIPT,
        [
            ("MAX_ITEMS", "constant", 2, 2),
            ("loadConfig", "function", 4, 10),
            ("Store", "class", 12, 25),
            ("size", "method", 18, 20),
            ("add", "method", 22, 24),
            ("double", "function", 27, 27),
            ("helper", "function", 29, 31),
        ],
    ),
    "typescript": (
        TYPESCRIPT,
        [
            ("DEFAULT_RADIUS", "constant", 2, 3),
            ("Sized", "interface", 5, 7),
            ("size", "method", 6, 6),
            ("Pair", "type", 9, 9),
            ("Color", "enum", 11, 11),
            ("Circle", "class", 13, 22),
            ("size", "method", 19, 21),
            ("area", "function", 24, 27),
            ("Base", "class", 29, 31),
            ("run", "method", 30, 30),
            ("double", "function", 33, 33),
        ],
    ),
    "go": (
        GO,
        [
            ("MaxSides", "constant", 7, 8),
            ("Shape", "interface", 10, 13),
            ("Circle", "struct", 15, 18),
            ("Area", "method", 20, 23),
            ("Describe", "function", 25, 27),
        ],
    ),
    "rust": (
        RUST,
        [
            ("MAX", "constant", 2, 3),
            ("Point", "struct", 5, 10),
            ("Shape", "enum", 12, 15),
            ("Area", "interface", 17, 19),
            ("new", "method", 22, 25),
            ("Meters", "type", 28, 28),
            ("distance", "function", 30, 33),
            ("tests", "module", 35, 37),
            ("helper", "function", 36, 36),
        ],
    ),
    "java": (
        JAVA,
        [
            ("Circle", "class", 4, 16),
            ("area", "method", 12, 15),
            ("Shape", "interface", 18, 20),
            ("area", "method", 19, 19),
            ("Color", "enum", 22, 22),
        ],
    ),
    "c": (
        C,
        [
            ("MAX_POINTS", "constant", 2, 2),
            ("point", "struct", 4, 8),
            ("counter_t", "type", 10, 12),
            ("color", "enum", 14, 14),
            ("add", "function", 16, 16),  # the prototype
            ("add", "function", 18, 23),
            ("name", "function", 25, 27),
        ],
    ),
    "cpp": (
        CPP,
        [
            ("Shape", "class", 4, 8),
            ("area", "method", 6, 6),
            ("Square", "struct", 10, 13),
            ("area", "method", 12, 12),
            ("twice", "function", 15, 18),
            ("geo_total", "function", 22, 26),
        ],
    ),
    "c_sharp": (
        C_SHARP,
        [
            ("Shapes", "module", 3, 32),
            ("IShape", "interface", 5, 9),
            ("Area", "method", 8, 8),
            ("Circle", "class", 11, 25),
            ("Area", "method", 21, 24),
            ("Point", "struct", 27, 27),
            ("Color", "enum", 29, 29),
            ("Person", "class", 31, 31),
        ],
    ),
    "ruby": (
        RUBY,
        [
            ("MAX_SIZE", "constant", 2, 2),
            ("Shapes", "module", 4, 22),
            ("Circle", "class", 7, 21),
            ("initialize", "method", 10, 12),
            ("area", "method", 14, 16),
            ("unit", "method", 18, 20),
            ("describe", "method", 24, 26),  # Ruby's tags call every `def` a method
        ],
    ),
    "php": (
        PHP,
        [
            ("App\\Shapes", "module", 2, 2),
            ("MAX_SIDES", "constant", 6, 6),
            ("HasArea", "interface", 8, 11),
            ("area", "method", 10, 10),
            ("Circle", "class", 13, 29),
            ("radius", "field", 18, 18),
            ("__construct", "method", 20, 23),
            ("area", "method", 25, 28),
            ("Loggable", "interface", 31, 34),
            ("log", "method", 33, 33),
            ("describe", "function", 36, 39),
        ],
    ),
    "lua": (
        LUA,
        [
            ("add", "function", 2, 5),
            ("describe", "method", 7, 9),
            ("helper", "function", 11, 13),
            ("double", "function", 15, 17),
            ("greet", "function", 19, 21),
        ],
    ),
    "bash": (
        BASH,
        [
            ("usage", "function", 3, 6),
            ("build", "function", 8, 11),
            ("main", "function", 13, 16),
        ],
    ),
}


def _summary(definitions: list[Definition]) -> list[tuple[str, str, int, int]]:
    return [(d.name, d.kind, d.start_line, d.end_line) for d in definitions]


def _tree(name: str, source: str) -> SyntaxTree:
    language = get_language(name)
    assert language is not None
    return SyntaxTree(language, source)


@pytest.mark.parametrize("name", EXPECTED)
def test_definitions_of_each_language(name: str) -> None:
    source, expected = EXPECTED[name]
    definitions = extract_definitions(name, source, f"src/example.{name}")
    assert _summary(definitions) == expected
    assert {d.path for d in definitions} == {f"src/example.{name}"}
    lines = source.split("\n")
    for definition in definitions:
        # Every snippet is made of the definition's own lines, the first one first.
        text_lines = definition.text.split("\n")
        assert text_lines[0] == lines[definition.start_line]
        assert set(text_lines) <= set(lines[definition.start_line : definition.end_line + 1])
        assert len(text_lines) <= 12
    # With the document's tree the result is the same.
    tree = _tree(name, source).tree
    assert extract_definitions(name, source, "src/example", tree) == [
        Definition(d.name, d.kind, "src/example", d.start_line, d.end_line, d.text)
        for d in definitions
    ]


def test_tsx_shares_typescript_definitions() -> None:
    definitions = extract_definitions("tsx", TYPESCRIPT + "const App = () => <div />;\n", "a")
    assert _summary(definitions) == [*EXPECTED["typescript"][1], ("App", "function", 34, 34)]


def test_python_decorators_docstrings_and_class_summary() -> None:
    by_name = {d.name: d for d in extract_definitions("python", PYTHON, "shapes.py")}
    assert by_name["Point"].start_line == 8  # the `@dataclass` line
    assert by_name["norm"].text.startswith("    @property\n    def norm(self) -> float:\n")
    assert '"""Length."""' in by_name["norm"].text
    assert by_name["add"].text.startswith("# Adds numbers.\ndef add(")
    # The class shows its docstring, fields and method signatures, not the method bodies.
    assert by_name["Point"].text == (
        "@dataclass(frozen=True)\n"
        "class Point(Base):\n"
        '    """A point."""\n'
        "    x: int\n"
        "    y: int = 0\n"
        "    @property\n"
        "    def norm(self) -> float:\n"
        '    def scale(self, k: float) -> "Point":'
    )


def test_a_long_function_shows_its_signature_and_docstring() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(30))
    source = f'def long(\n    a: int,\n) -> int:\n    """Sums.\n\n    More.\n    """\n{body}'
    (definition,) = extract_definitions("python", source, "a.py")
    assert (definition.start_line, definition.end_line) == (0, 36)
    assert (
        definition.text == 'def long(\n    a: int,\n) -> int:\n    """Sums.\n\n    More.\n    """'
    )
    # Without a docstring: the first lines, up to max_lines.
    (plain,) = extract_definitions("python", "def long():\n" + body, "a.py", max_lines=4)
    assert plain.text == "def long():\n    x0 = 0\n    x1 = 1\n    x2 = 2"


def test_brace_class_summaries_keep_signatures_and_the_closing_line() -> None:
    by_name = {d.name: d for d in extract_definitions("java", JAVA, "Circle.java")}
    assert by_name["Circle"].text == (
        "/** A circle. */\n"
        "public class Circle implements Shape {\n"
        "    private final double radius;\n"
        "    public Circle(double radius) {\n"
        "    @Override\n"
        "    public double area() {\n"
        "}"
    )
    by_name = {d.name: d for d in extract_definitions("c_sharp", C_SHARP, "Shapes.cs")}
    assert by_name["Circle"].text == (  # Allman braces: the signature without its "{" line
        "    [Serializable]\n"
        "    public class Circle : IShape\n"
        "        private readonly double radius;\n"
        "        public Circle(double radius)\n"
        "        public double Area()\n"
        "    }"
    )
    by_name = {d.name: d for d in extract_definitions("ruby", RUBY, "shapes.rb")}
    assert by_name["Circle"].text.split("\n")[-1] == "  end"


def test_max_lines_cuts_on_whole_lines() -> None:
    for definition in extract_definitions("python", PYTHON, "a.py", max_lines=3):
        assert len(definition.text.split("\n")) <= 3
    point = next(d for d in extract_definitions("java", JAVA, "a.java", max_lines=3))
    assert point.text == "/** A circle. */\npublic class Circle implements Shape {\n}"


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_line_endings(ending: str) -> None:
    """Lines end at "\\r\\n" and a lone "\\r" too, as in the document store (tree-sitter's rows
    do not count a lone "\\r"); snippets are joined with "\\n"."""
    source = JAVASCRIPT.replace("\n", ending)
    expected = extract_definitions("javascript", JAVASCRIPT, "a.js")
    assert extract_definitions("javascript", source, "a.js") == expected
    tree = _tree("javascript", source).tree
    assert extract_definitions("javascript", source, "a.js", tree) == expected


def test_non_ascii_text() -> None:
    source = '# café ☕\nS = "😀"\n\n\ndef crème(x: "漢") -> None:\n    pass\n'
    assert _summary(extract_definitions("python", source, "a.py")) == [
        ("S", "constant", 0, 1),
        ("crème", "function", 4, 5),
    ]
    # A lone surrogate, which JSON can carry, is no reason to fail.
    assert extract_definitions("python", "X = '\ud800'\n", "a.py")[0].name == "X"


def test_unknown_languages_have_no_definitions() -> None:
    assert extract_definitions("cobol", "IDENTIFICATION DIVISION.", "a.cob") == []
    for name in LANGUAGE_NAMES:  # and every known language's query compiles
        assert extract_definitions(name, "", "empty") == []


@pytest.mark.parametrize("name", EXPECTED)
def test_broken_code_does_not_raise(name: str) -> None:
    source = EXPECTED[name][0]
    for cut in range(0, len(source), 7):
        for broken in (source[:cut], source[cut:], source[:cut] + "({[<'\"" + source[cut + 9 :]):
            for definition in extract_definitions(name, broken, "a"):
                assert 0 <= definition.start_line <= definition.end_line
            identifiers_near_cursor(name, broken, cut, _tree(name, broken).tree)


# -- identifiers near the cursor ---------------------------------------------------------------


def _near(name: str | None, marked: str, with_tree: bool = True, **kwargs: int) -> list[str]:
    """Names near the cursor, marked "|" in the source."""
    offset = marked.index("|")
    source = marked.replace("|", "", 1)
    tree = _tree(name, source).tree if name is not None and with_tree else None
    return identifiers_near_cursor(name, source, offset, tree, **kwargs)


PYTHON_CALLER = '''\
import os
from shapes import Circle, area as shape_area
from .util import helper


class Canvas(Base):
    def draw(self, shape: Shape, scale: float = 1.0) -> Picture:
        """Draws the shape, café."""
        c = Circle(2)
        total = shape_area(c) + helper.measure(shape.width)
        self.render(total, os.path.join("a", "b"))
        c.paint(|)
'''


def test_python_names_near_the_cursor() -> None:
    names = _near("python", PYTHON_CALLER)
    # The call at the cursor and the type of its receiver (`c = Circle(2)`) come first.
    assert names[:2] == ["paint", "Circle"]
    assert names == [
        "paint",
        "Circle",
        "join",  # os.path.join(…): what is called, the attribute, the imported module
        "path",
        "os",
        "render",  # self.render(…): the method and the class around `self`
        "Canvas",
        "width",  # shape.width: the attribute and the parameter's annotated type
        "Shape",
        "measure",
        "helper",  # imported, used as a receiver
        "shape_area",  # imported under an alias, called
        "Picture",  # the return annotation
        "Base",  # the base class
    ]
    # Local variables, parameters and the import statements' own words are left out.
    assert not {"total", "c", "shape", "scale", "self", "draw", "shapes", "area"} & set(names)


def test_python_region_is_bounded() -> None:
    names = _near("python", PYTHON_CALLER, max_lines_back=1)
    # `c = Circle(2)` is out of sight now.
    assert names == ["paint", "join", "path", "os", "render", "Canvas"]


JAVASCRIPT_CALLER = """\
import { Circle } from "./circle";
import * as util from "./util";

class Canvas extends Base {
  draw(shape) {
    const c = new Circle(2);
    const size = util.measure(shape.width);
    this.render(size);
    c.paint(|
  }
}
"""


def test_javascript_names_near_the_cursor() -> None:
    assert _near("javascript", JAVASCRIPT_CALLER) == [
        "paint",
        "Circle",  # c = new Circle(2)
        "render",
        "Canvas",  # this
        "width",
        "measure",
        "util",
        "Base",
    ]


def test_typescript_annotations_give_receiver_types() -> None:
    source = "function area(c: Circle, s: Shape): number {\n  return s.perimeter() + c.|\n}\n"
    names = _near("typescript", source)
    assert names.index("perimeter") < names.index("Shape") < names.index("Circle")


def test_text_fallback_without_a_tree() -> None:
    source = "import os\n\ndef foo(x):\n    return bar(x) + baz.qux|  # café\n"
    # Every identifier but keywords (comments too: there is no telling them apart), nearest
    # first; a tie goes to the one before the cursor.
    assert _near(None, source) == ["qux", "baz", "café", "x", "bar", "foo", "os"]
    # A known language without a tree falls back as well.
    assert _near("python", source, with_tree=False, max_lines_back=0) == [
        "qux",
        "baz",
        "café",
        "x",
        "bar",
    ]


def test_text_fallback_line_endings() -> None:
    source = "alpha\r\nbeta\rgamma\ndelta|\n"
    assert _near(None, source, max_lines_back=1) == ["delta", "gamma"]
    assert _near(None, source, max_lines_back=2) == ["delta", "gamma", "beta"]
