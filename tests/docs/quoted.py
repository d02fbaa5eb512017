"""Find the `waystation ...` command lines quoted in the docs, and check them against the real CLI.

A quoted line is found in fenced code blocks (continuation lines joined) and in inline code, in
command position only: at the start of a shell command, after `&&`, `;`, `|` or `(`, after
variable assignments and wrappers (`sudo`, `torsocks`, `runuser ... --`), as `waystation-admin`
(which runs `waystation`), or as the service after `docker compose run`. It is then walked
through the click command tree: each word must name a subcommand until a command is reached,
and each option must be one that command (or the group it follows) accepts. Placeholders
(HOME, KEYFILE, `<address>`, `...`) are arguments, so they need no special care; synopsis
notation is understood: `[--opt VALUE]`, `--a/--no-a`, `list|show` (alternatives, no spaces
around the bar; a bar between spaces is a pipe).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]
ALTERNATIVES = "\u00a6"  # stands for a `|` written without spaces: "one of"
COMMANDS = {"waystation", "waystation-admin"}
WRAPPERS = {"sudo", "torsocks", "nice", "exec", "time", "env", "command"}
SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&", ";;"}
REDIRECTS = {">", ">>", "<", "<<", "2>", "&>"}
DOCKER_RUN_VALUES = {"-v", "--volume", "-e", "--env", "-w", "--workdir", "-u", "--user", "--name",
                     "--entrypoint", "-p", "--publish", "-l", "--label", "--env-file"}


@dataclass(frozen=True)
class Quote:
    """One command line as a doc shows it."""

    where: str  # file:line
    text: str

    def __str__(self) -> str:
        return f"{self.where}: `{self.text}`"


def doc_files() -> list[Path]:
    """Every document a newcomer follows: docs/*.md, README.md, deploy/README.md."""
    return [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md", REPO / "deploy" / "README.md"]


def _code_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Logical lines of a fenced block: `\\` continuations and `[--option]` synopsis continuations joined."""
    joined: list[tuple[int, str]] = []
    for number, line in lines:
        if joined and (joined[-1][1].endswith("\\") or line.lstrip().startswith("[-")):
            start, text = joined[-1]
            joined[-1] = (start, text.removesuffix("\\").rstrip() + " " + line.strip())
        else:
            joined.append((number, line))
    return joined


def quotes_in(path: Path) -> list[Quote]:
    """Every code line and inline code span of a Markdown file, with where it is."""
    name = path.relative_to(REPO).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Quote] = []
    prose = list(lines)
    block: list[tuple[int, str]] | None = None
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            if block is None:
                block = []
            else:
                found += [Quote(f"{name}:{n}", text.strip()) for n, text in _code_lines(block)]
                block = None
            prose[number - 1] = ""
        elif block is not None:
            block.append((number, line))
            prose[number - 1] = ""
    text = "\n".join(prose)
    for match in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
        number = text.count("\n", 0, match.start()) + 1
        found.append(Quote(f"{name}:{number}", " ".join(match.group(1).replace("\\|", "|").split())))
    return found


def unit_quotes() -> list[Quote]:
    """What the deployment files run: ExecStart= of the units, CMD of the image."""
    found: list[Quote] = []
    for unit in sorted((REPO / "deploy").glob("*.service")):
        for number, line in enumerate(unit.read_text().splitlines(), 1):
            if line.startswith("ExecStart=") and line.strip() != "ExecStart=":
                found.append(Quote(f"deploy/{unit.name}:{number}", line.strip()))
    containerfile = (REPO / "deploy" / "Containerfile").read_text().splitlines()
    for number, line in enumerate(containerfile, 1):
        if line.startswith("CMD ["):
            args = re.findall(r'"([^"]*)"', line)
            found.append(Quote(f"deploy/Containerfile:{number}", "waystation " + " ".join(args)))
    return found


def _tokens(text: str) -> list[str]:
    text = re.sub(r"<[A-Za-z][^<>\n]*>", "PLACEHOLDER", text)  # <path to a checkout>, <address>
    text = re.sub(r"(?<=\S)\|(?=\S)", ALTERNATIVES, text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an apostrophe in prose: good enough without quoting rules
        return text.split()


def _segments(tokens: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def command_args(text: str) -> list[list[str]]:
    """The arguments of every `waystation` invocation in command position in `text`."""
    found = []
    for segment in _segments(_tokens(text)):
        words = list(segment)
        while words:
            word = words[0]
            if word.startswith("ExecStart="):
                words[0] = word.removeprefix("ExecStart=")
                break
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word) or word in WRAPPERS:
                words.pop(0)
            elif word == "runuser":
                words = words[words.index("--") + 1:] if "--" in words else []
            else:
                break
        if words[:3] == ["docker", "compose", "run"]:
            rest, words = words[3:], []
            while rest:
                option = rest.pop(0)
                if option in DOCKER_RUN_VALUES:
                    rest = rest[1:]
                elif not option.startswith("-"):
                    words = ["waystation", *rest] if option == "bot" else []
                    break
        if words and words[0].rsplit("/", 1)[-1] in COMMANDS:
            found.append(_cut_redirects(words[1:]))
    return found


def _cut_redirects(args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in REDIRECTS:
            skip = True
        else:
            kept.append(arg)
    return kept


@dataclass
class Walk:
    """Where a quoted command leads in the CLI: the command paths reached, each option used, and problems."""

    paths: list[tuple[str, ...]]
    options: dict[tuple[str, ...], set[str]]
    problems: list[str]


def _option_names(word: str) -> list[str]:
    word = word.strip("[]").split("=", 1)[0]
    return [part for part in word.split("/") if part.startswith("-")] if "/" in word else [word]


def _find(command: click.Command, name: str) -> click.Parameter | None:
    for param in command.get_params(click.Context(command)):
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def walk(root: click.Group, args: list[str]) -> Walk:
    """Follow `args` through the command tree from `root`."""
    result = Walk([], {}, [])
    _walk(root, (), args, result)
    return result


def _walk(command: click.Command, path: tuple[str, ...], args: list[str], result: Walk) -> None:
    shown = " ".join(("waystation", *path))
    result.paths.append(path)
    result.options.setdefault(path, set())
    index = 0
    while index < len(args):
        word = args[index]
        bare = word.strip("[]")
        index += 1
        if bare in ("", "...", "\u2026") or bare == "-":
            continue
        if bare == "--":
            return
        if bare.startswith("-"):
            for name in _option_names(bare):
                param = _find(command, name)
                if param is None:
                    accepted = sorted(o for p in command.get_params(click.Context(command))
                                      if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)
                                      if o.startswith("--"))
                    result.problems.append(
                        f"option {name} is not accepted by `{shown}` (it takes {', '.join(accepted)})"
                    )
                    continue
                result.options[path].add(name)
                takes_value = isinstance(param, click.Option) and not param.is_flag and not param.count
                if takes_value and "=" not in bare and not word.endswith("]"):
                    index += param.nargs
            continue
        if not isinstance(command, click.Group):
            continue  # an argument (a placeholder or a real value)
        if ALTERNATIVES in bare:
            for alternative in " ".join(args[index - 1:]).split(ALTERNATIVES):
                words = alternative.split()
                if words:
                    _subcommand(command, path, words[0].strip("[]"), words[1:], result)
            return
        _subcommand(command, path, bare, args[index:], result)
        return


def _subcommand(group: click.Group, path: tuple[str, ...], name: str, rest: list[str], result: Walk) -> None:
    ctx = click.Context(group)
    sub = group.get_command(ctx, name)  # click's API: the top group loads its commands when asked
    if sub is None:
        shown = " ".join(("waystation", *path))
        result.problems.append(f"`{shown}` has no command '{name}' (it has {', '.join(group.list_commands(ctx))})")
        return
    _walk(sub, (*path, name), rest, result)
