//! `handtrace help builtins`: the built-in functions, from the op table.
//!
//! Owns the listing's layout: one line per built-in, its call form and what it computes, in
//! the table's order (elementwise functions, reductions, the rest).

use crate::ir::op::builtins;

/// Every built-in with its signature and summary.
pub fn builtins_text() -> String {
    let rows: Vec<(String, &str)> = builtins().map(|b| (b.signature(), b.summary)).collect();
    let width = rows
        .iter()
        .map(|(s, _)| s.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::from(
        "Built-in functions (elementwise ones broadcast; an axis may be negative, -1 is the last):\n\n",
    );
    for (sig, summary) in rows {
        let pad = width - sig.chars().count();
        out.push_str(&format!("  {sig}{}  {summary}\n", " ".repeat(pad)));
    }
    out.push_str(
        "\nOperators: + - * / (elementwise, numpy broadcasting), @ (matrix product, batched),\n\
         unary -, ** (a rational constant exponent), .T (swap the last two axes).\n\
         Constants: pi; a dim's name is its size as a scalar (sqrt(d)).\n",
    );
    out
}
