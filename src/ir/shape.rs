//! Shapes in dims, and the shape rules of the language's operators.
//!
//! Owns [`Shape`] and the pure rules: numpy broadcasting, `torch.matmul`'s batched product,
//! axis normalisation. Rules return `Err` with a short reason; `lower` turns it into a
//! diagnostic with spans. Invariant: every rule decides equality with [`Dims::same`], so a
//! result holds for every size of the dims, not only the declared ones.

use super::dims::{DimPoly, Dims};

/// A tensor's shape: one symbolic size per axis; `[]` is a scalar.
pub type Shape = Vec<DimPoly>;

/// `[T, d]` using the dims' names.
pub fn show_shape(dims: &Dims, shape: &[DimPoly]) -> String {
    let parts: Vec<String> = shape.iter().map(|p| dims.show(p)).collect();
    format!("[{}]", parts.join(", "))
}

/// The shape at the declared sizes, `[4, 8]`, or `None` if some dim has no size.
pub fn show_sizes(dims: &Dims, shape: &[DimPoly]) -> Option<String> {
    let parts: Option<Vec<String>> = shape
        .iter()
        .map(|p| dims.eval(p).map(|v| v.to_string()))
        .collect();
    parts.map(|p| format!("[{}]", p.join(", ")))
}

pub fn same_shape(dims: &Dims, a: &[DimPoly], b: &[DimPoly]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| dims.same(x, y))
}

/// numpy broadcasting: align from the right; sizes must be equal or one of them 1.
pub fn broadcast(dims: &Dims, a: &[DimPoly], b: &[DimPoly]) -> Result<Shape, String> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let x = (i + a.len()).checked_sub(n).map(|j| &a[j]);
        let y = (i + b.len()).checked_sub(n).map(|j| &b[j]);
        let size = match (x, y) {
            (Some(x), None) => x.clone(),
            (None, Some(y)) => y.clone(),
            (Some(x), Some(y)) => {
                if dims.same(x, y) {
                    x.clone()
                } else if dims.is_one(x) {
                    y.clone()
                } else if dims.is_one(y) {
                    x.clone()
                } else {
                    return Err(format!(
                        "axis {} from the right: {} and {} differ and neither is 1",
                        n - i,
                        dims.show(x),
                        dims.show(y)
                    ));
                }
            }
            (None, None) => unreachable!(),
        };
        out.push(size);
    }
    Ok(out)
}

/// `torch.matmul` shapes: 1-D operands are vectors, leading axes broadcast as batches.
pub fn matmul(dims: &Dims, a: &[DimPoly], b: &[DimPoly]) -> Result<Shape, String> {
    if a.is_empty() || b.is_empty() {
        return Err(
            "`@` needs at least one axis on each side (use `*` to scale by a scalar)".into(),
        );
    }
    let (a_batch, m, ka) = match a.len() {
        1 => (&a[..0], None, &a[0]),
        n => (&a[..n - 2], Some(&a[n - 2]), &a[n - 1]),
    };
    let (b_batch, kb, nn) = match b.len() {
        1 => (&b[..0], &b[0], None),
        n => (&b[..n - 2], &b[n - 2], Some(&b[n - 1])),
    };
    if !dims.same(ka, kb) {
        return Err(format!(
            "the inner sizes differ: {} (last axis of the left) vs {} ({} of the right)",
            dims.show(ka),
            dims.show(kb),
            if b.len() == 1 {
                "only axis"
            } else {
                "second-to-last axis"
            }
        ));
    }
    let mut out = broadcast(dims, a_batch, b_batch).map_err(|e| format!("batch axes: {e}"))?;
    out.extend(m.cloned());
    out.extend(nn.cloned());
    Ok(out)
}

/// Normalise a possibly negative axis for a tensor of rank `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if rank == 0 {
        return Err("a scalar has no axes".into());
    }
    if axis >= r || axis < -r {
        return Err(format!(
            "axis {axis} is out of range for a tensor with {rank} ax{} (valid: {} to {})",
            if rank == 1 { "is" } else { "es" },
            -r,
            r - 1
        ));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}
