"""A report as a list of blocks (("h1" | "h2", text), ("p", text), ("table", header, rows), ("img", file,
caption)), written as Markdown and as one self-contained HTML page beside its pictures."""
from __future__ import annotations

import html
from pathlib import Path

from .files import write_text


def render(blocks: list[tuple], folder: Path) -> Path:
    md, body = [], []
    for kind, *args in blocks:
        if kind in ("h1", "h2"):
            md.append(f"{'#' * int(kind[1])} {args[0]}\n")
            body.append(f"<{kind}>{html.escape(args[0])}</{kind}>")
        elif kind == "p":
            md.append(args[0] + "\n")
            body.append(f"<p>{html.escape(args[0])}</p>")
        elif kind == "table":
            header, rows = args
            md.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
                      + "".join("| " + " | ".join(r) + " |\n" for r in rows))
            body.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
                        + "</table>")
        elif kind == "img":
            name, caption = args
            md.append(f"![{caption}]({name})\n\n*{caption}*\n")
            # linked, not embedded: the pictures sit beside the page, which stays small enough to commit
            body.append(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    write_text(folder / "report.md", "\n".join(md))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%}figcaption{font-style:italic;font-size:13px}")
    write_text(folder / "report.html", f"<!doctype html><meta charset='utf-8'><title>isogen report</title>"
                                       f"<style>{style}</style>" + "\n".join(body))
    return folder
