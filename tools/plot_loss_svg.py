#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plots the loss.csv written by `achilles-cli train` as a small standalone SVG (no matplotlib).

usage: plot_loss_svg.py loss.csv out.svg [title]
"""
import csv
import math
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "training loss"
    steps, loss, ev = [], [], []
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            steps.append(int(row["step"]))
            loss.append(float(row["loss"]))
            if row.get("eval_loss"):
                ev.append((int(row["step"]), float(row["eval_loss"])))
    W, H, L, R, T, B = 640, 360, 60, 20, 40, 50
    x0, x1 = 0, max(steps)
    y0, y1 = 0.0, math.ceil(max(loss + [e for _, e in ev]))
    sx = lambda s: L + (W - L - R) * (s - x0) / max(1, x1 - x0)
    sy = lambda v: T + (H - T - B) * (1 - (v - y0) / max(1e-9, y1 - y0))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
    for i in range(int(y1) + 1):
        y = sy(i)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{i}</text>')
    nt = 5
    for i in range(nt + 1):
        s = x0 + (x1 - x0) * i / nt
        x = sx(s)
        out.append(f'<line x1="{x:.1f}" y1="{H - B}" x2="{x:.1f}" y2="{H - B + 5}" stroke="black"/>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">{int(round(s))}</text>')
    out.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">step</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(T + H - B) / 2})">cross-entropy (nats/token)</text>')
    pts = " ".join(f"{sx(s):.1f},{sy(v):.1f}" for s, v in zip(steps, loss))
    out.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.8" points="{pts}"/>')
    for s, v in ev:
        out.append(f'<circle cx="{sx(s):.1f}" cy="{sy(v):.1f}" r="4" fill="#d62728"/>')
    out.append(f'<line x1="{W - 190}" y1="{T + 12}" x2="{W - 170}" y2="{T + 12}" stroke="#1f77b4" stroke-width="2"/>')
    out.append(f'<text x="{W - 165}" y="{T + 16}">train loss (batch)</text>')
    out.append(f'<circle cx="{W - 180}" cy="{T + 30}" r="4" fill="#d62728"/>')
    out.append(f'<text x="{W - 165}" y="{T + 34}">held-out loss</text>')
    out.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
