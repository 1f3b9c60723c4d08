//! Expressions in lowering: numbers, names, operators with their shape rules, calls (of a
//! fn, or of a built-in: see `call`), and exact rational constants (exponents, axes).

use super::{axes_word, Fail, Global, Lowerer, Scope, R};
use crate::diag::{Code, Diagnostic};
use crate::ir::shape::{show_shape, Shape};
use crate::ir::{Graph, Node, NodeId, Op, TensorKind};
use crate::source::Span;
use crate::syntax::ast::{self, Expr, ExprKind};
use num_rational::BigRational;
use num_traits::{One, Zero};
use std::collections::HashMap;

impl Lowerer<'_> {
    pub(super) fn scalar(&mut self, op: Op, span: Span) -> NodeId {
        self.graph.add(Node {
            op,
            args: vec![],
            shape: vec![],
            span,
        })
    }

    /// `op` on `args` whose shape rule cannot fail (it holds for any argument shapes).
    fn apply(&mut self, op: Op, args: Vec<NodeId>, span: Span) -> NodeId {
        let shapes: Vec<&Shape> = args.iter().map(|&a| self.graph.shape(a)).collect();
        let shape = crate::ir::op::infer(&self.dims, &op, &shapes)
            .expect("a shape rule that holds for every argument shape");
        self.node(op, args, shape, span)
    }

    pub(super) fn node(&mut self, op: Op, args: Vec<NodeId>, shape: Shape, span: Span) -> NodeId {
        self.graph.add(Node {
            op,
            args,
            shape,
            span,
        })
    }

    /// Lower an expression.
    pub(super) fn expr(&mut self, e: &Expr, scope: &mut Scope) -> R<NodeId> {
        match &e.kind {
            ExprKind::Number(r, text) => {
                let r = number(r, text, e.span)?;
                Ok(self.scalar(Op::Literal(r), e.span))
            }
            ExprKind::Name(n) => self.name(n, e.span, scope),
            ExprKind::Paren(inner) => self.expr(inner, scope),
            ExprKind::Neg { count, operand } => {
                let mut node = self.expr(operand, scope)?;
                for _ in 0..*count {
                    node = self.apply(Op::Neg, vec![node], e.span);
                }
                Ok(node)
            }
            ExprKind::Transpose { count, operand } => {
                let mut node = self.expr(operand, scope)?;
                for _ in 0..*count {
                    let r = self.graph.shape(node).len();
                    if r < 2 {
                        return Err(Diagnostic::new(
                            Code::BadAxis,
                            e.span,
                            format!(
                                "`.T` swaps the last two axes, but this has shape {}",
                                show_shape(&self.dims, self.graph.shape(node))
                            ),
                        )
                        .with_label(format!("{r} ax{}", axes_word(r)))
                        .with_help(
                            "a vector needs no transpose here; use reshape(x, [n, 1]) for a column",
                        )
                        .into());
                    }
                    node = self.apply(Op::SwapAxes(r - 2, r - 1), vec![node], e.span);
                }
                Ok(node)
            }
            ExprKind::Pow { base, exponent } => {
                let b = self.expr(base, scope)?;
                let p = self.const_rational(exponent, scope)?;
                Ok(self.apply(Op::Pow(p), vec![b], e.span))
            }
            ExprKind::Chain { first, rest } => {
                let mut acc = self.expr(first, scope)?;
                let mut acc_span = first.span;
                for (op, op_span, operand) in rest {
                    let rhs = self.expr(operand, scope)?;
                    acc = self.binary(*op, acc, rhs, *op_span, acc_span, operand.span)?;
                    acc_span = acc_span.join(operand.span);
                }
                Ok(acc)
            }
            ExprKind::Call { name, args } => {
                if let Some(def) = self.fn_defs.get(&name.name).cloned() {
                    return self.call_fn(def, e.span, args, scope, None);
                }
                self.builtin(name, args, e.span, scope)
            }
        }
    }

    pub(super) fn binary(
        &mut self,
        op: ast::BinOp,
        a: NodeId,
        b: NodeId,
        op_span: Span,
        a_span: Span,
        b_span: Span,
    ) -> R<NodeId> {
        let op = match op {
            ast::BinOp::Add => Op::Add,
            ast::BinOp::Sub => Op::Sub,
            ast::BinOp::Mul => Op::Mul,
            ast::BinOp::Div => Op::Div,
            ast::BinOp::MatMul => Op::MatMul,
        };
        let span = op_span.join(a_span).join(b_span);
        self.graph
            .apply(&self.dims, op.clone(), vec![a, b], span)
            .map_err(|why| {
                let (sa, sb) = (self.graph.shape(a), self.graph.shape(b));
                let what = if op == Op::MatMul {
                    "cannot be multiplied"
                } else {
                    "do not broadcast"
                };
                Diagnostic::new(
                    Code::ShapeMismatch,
                    op_span,
                    format!(
                        "shape mismatch in `{}`: {} and {} {what}",
                        op.name(),
                        show_shape(&self.dims, sa),
                        show_shape(&self.dims, sb)
                    ),
                )
                .with_label(format!("`{}` here", op.name()))
                .with_secondary(a_span, format!("left: {}", show_shape(&self.dims, sa)))
                .with_secondary(b_span, format!("right: {}", show_shape(&self.dims, sb)))
                .with_note(why.message(&self.dims, op.name()))
                .into()
            })
    }

    /// An exact rational constant (exponents, axes): numbers, `const`s, `+ - * /`.
    pub(super) fn const_rational(&mut self, e: &Expr, scope: &Scope) -> R<BigRational> {
        let not_constant = |why: &str| -> Fail {
            Diagnostic::new(
                Code::NotConstant,
                e.span,
                format!("expected a rational constant here; {why}"),
            )
            .with_label("not a constant")
            .into()
        };
        match &e.kind {
            ExprKind::Number(r, text) => number(r, text, e.span),
            ExprKind::Paren(inner) => self.const_rational(inner, scope),
            ExprKind::Neg { count, operand } => {
                let v = self.const_rational(operand, scope)?;
                Ok(if count % 2 == 1 { -v } else { v })
            }
            ExprKind::Chain { first, rest } => {
                let mut acc = self.const_rational(first, scope)?;
                for (op, _, operand) in rest {
                    let v = self.const_rational(operand, scope)?;
                    acc = match op {
                        ast::BinOp::Add => acc + v,
                        ast::BinOp::Sub => acc - v,
                        ast::BinOp::Mul => acc * v,
                        ast::BinOp::Div if v.is_zero() => {
                            return Err(not_constant("it divides by zero"))
                        }
                        ast::BinOp::Div => acc / v,
                        ast::BinOp::MatMul => {
                            return Err(not_constant("`@` is not scalar arithmetic"))
                        }
                    };
                }
                Ok(acc)
            }
            ExprKind::Name(n) => {
                if let Some((Global::Tensor(t), _)) = self.globals.get(n) {
                    let tensor = &self.tensors[t.0 as usize];
                    if tensor.kind == TensorKind::Const {
                        if let Some(v) = rational_value(&self.graph, tensor.node) {
                            return Ok(v);
                        }
                    }
                }
                if scope.names.contains_key(n) || self.globals.contains_key(n) {
                    Err(not_constant(&format!("`{n}` is not a rational const")))
                } else {
                    Err(self.unknown_name(n, e.span, scope).into())
                }
            }
            _ => Err(not_constant("use a number like `2`, `-1` or `(1/2)`")),
        }
    }
}

/// A number of the source, or why it is out of range (`1e200000`), at its span.
pub(super) fn number(r: &Option<BigRational>, text: &str, span: Span) -> R<BigRational> {
    match r {
        Some(r) => Ok(r.clone()),
        None => {
            let why = crate::decimal::parse_decimal(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            Err(Diagnostic::new(
                Code::TooLarge,
                span,
                format!("the number {text} is out of range: {why}"),
            )
            .with_label("out of range")
            .into())
        }
    }
}

/// The exact value of a scalar node built only from literals and `+ - * /`, `-`, integer `**`.
fn rational_value(graph: &Graph, root: NodeId) -> Option<BigRational> {
    let mut values: HashMap<NodeId, BigRational> = HashMap::new();
    let mut stack = vec![(root, false)];
    while let Some((id, ready)) = stack.pop() {
        if values.contains_key(&id) {
            continue;
        }
        let node = graph.node(id);
        if !node.shape.is_empty() {
            return None;
        }
        if !ready {
            stack.push((id, true));
            stack.extend(node.args.iter().map(|&a| (a, false)));
            continue;
        }
        let arg = |i: usize| values.get(&node.args[i]).cloned();
        let v = match &node.op {
            Op::Literal(r) => r.clone(),
            Op::Neg => -arg(0)?,
            Op::Add => arg(0)? + arg(1)?,
            Op::Sub => arg(0)? - arg(1)?,
            Op::Mul => arg(0)? * arg(1)?,
            Op::Div => {
                let d = arg(1)?;
                if d.is_zero() {
                    return None;
                }
                arg(0)? / d
            }
            Op::Pow(p) if p.denom().is_one() => {
                let base = arg(0)?;
                let e: i32 = p.numer().try_into().ok()?;
                if e < 0 && base.is_zero() {
                    return None;
                }
                num_traits::pow::Pow::pow(&base, e)
            }
            _ => return None,
        };
        values.insert(id, v);
    }
    values.remove(&root)
}
