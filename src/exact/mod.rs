//! Exact evaluation: rational tensors, certified enclosures, forward-mode derivatives.

pub mod bind;
pub mod dyadic;
pub mod eval;
pub mod funcs;
pub mod inputs;
pub mod num;
pub mod run;
pub mod scalar;
pub mod tensor;
pub mod weights;
