//! Affine arithmetic on [`Angle`]s: decompositions need sums like `(φ + λ)/2` of a gate's angles.

use crate::circuit::Angle;

/// Where a symbolic angle's value comes from: `(is an input feature, index)`.
type Source = (bool, usize);

fn source(a: &Angle) -> Option<(Source, f64, f64)> {
    match *a {
        Angle::Const(_) => None,
        Angle::Param { index, scale, offset } => Some(((false, index), scale, offset)),
        Angle::Input { index, scale, offset } => Some(((true, index), scale, offset)),
        Angle::InputPair { .. } => None,
    }
}

/// `Σ c·a + constant` for the `(c, a)` of `terms`, as one [`Angle`]: a constant when every angle with
/// a nonzero coefficient is constant, else `scale·x + offset` of the one symbolic source involved
/// (kept symbolic even when its coefficients cancel, so the circuit still reads that source).
/// `Err` names the problem when two different sources would have to be added.
pub(crate) fn affine(terms: &[(f64, Angle)], constant: f64) -> Result<Angle, String> {
    let mut offset = constant;
    let mut symbolic: Option<(Source, f64)> = None;
    for &(c, a) in terms {
        if c == 0.0 {
            continue;
        }
        if matches!(a, Angle::InputPair { .. }) {
            return Err("the decomposition adds an angle that is a product of two input features".into());
        }
        match source(&a) {
            None => offset += c * a.resolve(&[], &[]),
            Some((src, scale, off)) => {
                offset += c * off;
                symbolic = match symbolic {
                    None => Some((src, c * scale)),
                    Some((s, acc)) if s == src => Some((s, acc + c * scale)),
                    Some(_) => {
                        return Err("the decomposition adds two angles that depend on different trainable \
                                    parameters or input features"
                            .into());
                    }
                };
            }
        }
    }
    Ok(match symbolic {
        None => Angle::Const(offset),
        Some(((false, index), scale)) => Angle::Param { index, scale, offset },
        Some(((true, index), scale)) => Angle::Input { index, scale, offset },
    })
}

/// The constant value of `a`, if it is one.
pub(crate) fn constant(a: &Angle) -> Option<f64> {
    match *a {
        Angle::Const(v) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_constants_and_one_source() {
        let p = Angle::Param { index: 2, scale: 2.0, offset: 0.5 };
        let q = Angle::Input { index: 0, scale: 1.0, offset: 0.0 };
        assert_eq!(affine(&[(0.5, Angle::Const(1.0)), (2.0, Angle::Const(3.0))], 1.0), Ok(Angle::Const(7.5)));
        assert_eq!(
            affine(&[(0.5, p), (1.0, Angle::Const(1.0))], 0.0),
            Ok(Angle::Param { index: 2, scale: 1.0, offset: 1.25 })
        );
        // The same source twice adds up; cancelling coefficients keep the source.
        assert_eq!(affine(&[(1.0, p), (-1.0, p)], 0.0), Ok(Angle::Param { index: 2, scale: 0.0, offset: 0.0 }));
        assert!(affine(&[(1.0, p), (1.0, q)], 0.0).is_err());
        assert_eq!(affine(&[(0.0, p), (1.0, q)], 0.0), Ok(q));
    }
}
