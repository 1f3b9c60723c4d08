//! The exact safetensors reader: values round-trip exactly, every dtype decodes in row-major
//! order, bad files and bad values give errors that name the tensor, and no input panics.

use handtrace::exact::weights::{decode, encode, Checkpoint, Dtype, WeightsError};
use num_bigint::BigInt;
use num_rational::BigRational;
use proptest::prelude::*;
use safetensors::tensor::TensorView;

fn r(n: i64, d: i64) -> BigRational {
    BigRational::new(BigInt::from(n), BigInt::from(d))
}

/// `n / 2^k` exactly.
fn dyadic(n: i64, k: u32) -> BigRational {
    BigRational::new(BigInt::from(n), BigInt::from(1) << k)
}

fn one(dtype: Dtype, x: f64) -> BigRational {
    let file = encode(&[("x", dtype, &[], &[x])]);
    let ck = Checkpoint::parse(file).unwrap();
    let v = ck.values("x").unwrap();
    assert_eq!(v.len(), 1);
    v.into_iter().next().unwrap()
}

/// A file holding tensors of a type this reader does not load, written by the crate itself.
fn foreign(tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views = tensors.iter().map(|(name, dtype, shape, bytes)| {
        (
            name.to_string(),
            TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
        )
    });
    safetensors::serialize(views, None).unwrap()
}

fn small_file() -> Vec<u8> {
    encode(&[
        ("w", Dtype::F32, &[2, 2], &[0.5, -1.0, 0.1, 3.0]),
        ("b", Dtype::F16, &[2], &[1.5, -0.25]),
        ("e", Dtype::BF16, &[1], &[2.0]),
        ("d", Dtype::F64, &[], &[0.1]),
    ])
}

// ---- exact round trips ----

#[test]
fn f32_values_are_exact() {
    assert_eq!(one(Dtype::F32, 0.1), r(13421773, 134217728));
    assert_eq!(one(Dtype::F32, 1.0 / 3.0), r(11184811, 33554432));
    assert_eq!(one(Dtype::F32, -2.5), r(-5, 2));
    assert_eq!(one(Dtype::F32, 0.0), r(0, 1));
    assert_eq!(one(Dtype::F32, -0.0), r(0, 1));
    assert_eq!(one(Dtype::F32, 16777216.0), r(16777216, 1));
    // 1e-40 is an f32 subnormal: 71362 · 2^-149.
    assert_eq!(one(Dtype::F32, 1e-40), dyadic(71362, 149));
    // The smallest subnormal and the largest finite value.
    assert_eq!(one(Dtype::F32, f32::from_bits(1) as f64), dyadic(1, 149));
    let max = BigRational::from_integer(BigInt::from((1u64 << 24) - 1) << 104u32);
    assert_eq!(one(Dtype::F32, f32::MAX as f64), max);
}

#[test]
fn f64_values_are_exact() {
    assert_eq!(
        one(Dtype::F64, 0.1),
        BigRational::new(
            BigInt::from(3602879701896397u64),
            BigInt::from(36028797018963968u64)
        )
    );
    assert_eq!(one(Dtype::F64, -2.5), r(-5, 2));
    // The smallest f64 subnormal, 2^-1074.
    let tiny = one(Dtype::F64, f64::from_bits(1));
    assert_eq!(
        tiny,
        BigRational::new(BigInt::from(1), BigInt::from(1) << 1074u32)
    );
    let big = one(Dtype::F64, 1e300);
    assert_eq!(big, BigRational::from_float(1e300).unwrap());
}

#[test]
fn half_values_are_exact() {
    assert_eq!(one(Dtype::F16, 65504.0), r(65504, 1));
    assert_eq!(one(Dtype::F16, 0.1), dyadic(1638, 14)); // 0.0999755859375
    assert_eq!(one(Dtype::F16, -2.5), r(-5, 2));
    // The smallest f16 subnormal, 2^-24.
    assert_eq!(one(Dtype::F16, 2f64.powi(-24)), dyadic(1, 24));
    // bf16 of 1/3 rounds up to 1.0101011₂ · 2^-2.
    assert_eq!(one(Dtype::BF16, 1.0 / 3.0), r(171, 512));
    assert_eq!(one(Dtype::BF16, -2.5), r(-5, 2));
    // bf16 has f32's range: 1e38 is finite (f16 would overflow).
    assert_eq!(
        one(Dtype::BF16, 1e38),
        BigRational::from_float(half::bf16::from_f64(1e38).to_f32()).unwrap()
    );
}

#[test]
fn names_shapes_and_info_are_preserved() {
    let ck = Checkpoint::parse(small_file()).unwrap();
    assert_eq!(ck.names(), vec!["b", "d", "e", "w"]);
    let w = ck.info("w").unwrap();
    assert_eq!((w.name.as_str(), w.dtype.as_str()), ("w", "F32"));
    assert_eq!(w.shape, vec![2, 2]);
    assert_eq!(ck.info("b").unwrap().dtype, "F16");
    assert_eq!(ck.info("e").unwrap().dtype, "BF16");
    let d = ck.info("d").unwrap();
    assert_eq!((d.dtype.as_str(), d.shape.len()), ("F64", 0));
    assert!(ck.info("nope").is_none());
    assert_eq!(
        ck.values("w").unwrap(),
        vec![r(1, 2), r(-1, 1), r(13421773, 134217728), r(3, 1)]
    );
    assert_eq!(ck.values("b").unwrap(), vec![r(3, 2), r(-1, 4)]);
    assert_eq!(ck.values("e").unwrap(), vec![r(2, 1)]);
}

#[test]
fn dtype_display() {
    let shown: Vec<String> = Dtype::ALL.iter().map(|d| d.to_string()).collect();
    assert_eq!(shown, vec!["f64", "f32", "f16", "bf16"]);
}

#[test]
fn every_dtype_keeps_row_major_order() {
    let values: Vec<f64> = (0..12).map(|i| i as f64 * 0.5 - 3.0).collect();
    let shape = [2, 3, 2];
    for dtype in Dtype::ALL {
        let file = encode(&[("t", dtype, &shape, &values)]);
        let ck = Checkpoint::parse(file).unwrap();
        let got = ck.values("t").unwrap();
        let want: Vec<BigRational> = (0..12).map(|i| r(i - 6, 2)).collect();
        assert_eq!(got, want, "{dtype}");
        assert_eq!(ck.info("t").unwrap().shape, shape.to_vec());
    }
}

#[test]
fn empty_and_scalar_tensors() {
    let file = encode(&[
        ("empty", Dtype::F32, &[0, 3], &[]),
        ("scalar", Dtype::F16, &[], &[7.0]),
    ]);
    let ck = Checkpoint::parse(file).unwrap();
    assert_eq!(ck.values("empty").unwrap(), vec![]);
    assert_eq!(ck.info("empty").unwrap().shape, vec![0, 3]);
    assert_eq!(ck.values("scalar").unwrap(), vec![r(7, 1)]);
    let none = Checkpoint::parse(encode(&[])).unwrap();
    assert!(none.names().is_empty());
}

#[test]
fn many_tensors_keep_their_own_bytes() {
    // Mixed dtypes are laid out by alignment, not by name: each must still find its data.
    let names: Vec<String> = (0..20).map(|i| format!("layer.{i:02}")).collect();
    let data: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64; i % 4 + 1]).collect();
    let shapes: Vec<[usize; 1]> = (0..20).map(|i| [i % 4 + 1]).collect();
    let tensors: Vec<(&str, Dtype, &[usize], &[f64])> = (0..20)
        .map(|i| {
            (
                names[i].as_str(),
                Dtype::ALL[i % 4],
                &shapes[i][..],
                &data[i][..],
            )
        })
        .collect();
    let ck = Checkpoint::parse(encode(&tensors)).unwrap();
    assert_eq!(ck.names(), names);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            ck.values(name).unwrap(),
            vec![r(i as i64, 1); i % 4 + 1],
            "{name}"
        );
    }
}

// ---- errors ----

#[test]
fn every_truncation_is_malformed() {
    let file = small_file();
    for len in 0..file.len() {
        match Checkpoint::parse(file[..len].to_vec()) {
            Err(WeightsError::Malformed(why)) => assert!(!why.is_empty()),
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    // And trailing bytes are refused too.
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(
        Checkpoint::parse(longer),
        Err(WeightsError::Malformed(_))
    ));
}

#[test]
fn garbage_is_malformed() {
    for bytes in [
        b"".to_vec(),
        b"hello".to_vec(),
        b"not a safetensors file at all, just some text".to_vec(),
        vec![0xff; 64],
        {
            let mut v = 5u64.to_le_bytes().to_vec();
            v.extend_from_slice(b"{\"a\":");
            v
        },
        {
            let mut v = 4u64.to_le_bytes().to_vec();
            v.extend_from_slice(&[0xc3, 0x28, 0xa0, 0xa1]);
            v
        },
    ] {
        let err = Checkpoint::parse(bytes.clone()).unwrap_err();
        assert!(
            matches!(err, WeightsError::Malformed(_)),
            "{bytes:?}: {err:?}"
        );
        assert!(err.to_string().starts_with("not a valid safetensors file"));
    }
}

#[test]
fn offsets_near_usize_max_are_malformed_not_an_overflow() {
    // Eight tensors whose sizes sum to nearly 2^64: adding the header length would overflow.
    let size: u64 = u64::MAX / 8;
    let mut header = String::from("{");
    for k in 0..8u64 {
        if k > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"t{k}\":{{\"dtype\":\"U8\",\"shape\":[{size}],\"data_offsets\":[{},{}]}}",
            k * size,
            (k + 1) * size
        ));
    }
    header.push('}');
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    assert!(matches!(
        Checkpoint::parse(file),
        Err(WeightsError::Malformed(_))
    ));
}

#[test]
fn unsupported_dtypes_name_the_tensor() {
    let file = foreign(&[
        ("ids", safetensors::Dtype::I64, vec![2], vec![0; 16]),
        ("mask", safetensors::Dtype::U8, vec![3], vec![1, 0, 1]),
        ("q", safetensors::Dtype::F8_E4M3, vec![1], vec![0x38]),
        (
            "ok",
            safetensors::Dtype::F32,
            vec![1],
            0.5f32.to_le_bytes().to_vec(),
        ),
    ]);
    let ck = Checkpoint::parse(file).unwrap();
    assert_eq!(ck.names(), vec!["ids", "mask", "ok", "q"]);
    assert_eq!(ck.info("ids").unwrap().dtype, "I64");
    assert_eq!(ck.values("ok").unwrap(), vec![r(1, 2)]);
    for (name, dtype) in [("ids", "I64"), ("mask", "U8"), ("q", "F8_E4M3")] {
        let err = ck.values(name).unwrap_err();
        assert_eq!(
            err,
            WeightsError::UnsupportedDtype {
                tensor: name.into(),
                dtype: dtype.into()
            }
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{name}`")), "{msg}");
        assert!(msg.contains(dtype), "{msg}");
        for supported in ["F64", "F32", "F16", "BF16"] {
            assert!(msg.contains(supported), "{msg}");
        }
    }
}

#[test]
fn non_finite_values_give_their_index() {
    let mut values = vec![1.0; 6];
    values[4] = f64::NAN;
    for dtype in Dtype::ALL {
        let ck = Checkpoint::parse(encode(&[("h", dtype, &[2, 3], &values)])).unwrap();
        assert_eq!(
            ck.values("h").unwrap_err(),
            WeightsError::NotFinite {
                tensor: "h".into(),
                index: vec![1, 1],
                value: "NaN".into()
            },
            "{dtype}"
        );
    }
    let file = encode(&[
        ("pos", Dtype::F32, &[3], &[0.0, 0.0, f64::INFINITY]),
        (
            "neg",
            Dtype::F64,
            &[2, 1, 2],
            &[0.0, 0.0, f64::NEG_INFINITY, 1.0],
        ),
        // 1e6 is beyond f16's range: it rounds to inf when written.
        ("over", Dtype::F16, &[1], &[1e6]),
    ]);
    let ck = Checkpoint::parse(file).unwrap();
    let err = ck.values("pos").unwrap_err();
    assert_eq!(
        err,
        WeightsError::NotFinite {
            tensor: "pos".into(),
            index: vec![2],
            value: "inf".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`pos`") && msg.contains("[2]") && msg.contains("inf"),
        "{msg}"
    );
    assert_eq!(
        ck.values("neg").unwrap_err(),
        WeightsError::NotFinite {
            tensor: "neg".into(),
            index: vec![1, 0, 0],
            value: "-inf".into()
        }
    );
    assert!(matches!(
        ck.values("over"),
        Err(WeightsError::NotFinite { ref value, .. }) if value == "inf"
    ));
}

#[test]
fn missing_names_the_tensor() {
    let ck = Checkpoint::parse(small_file()).unwrap();
    let err = ck.values("layers.0.attn.wq").unwrap_err();
    assert_eq!(
        err,
        WeightsError::Missing {
            tensor: "layers.0.attn.wq".into()
        }
    );
    assert!(err.to_string().contains("`layers.0.attn.wq`"));
}

#[test]
fn display_names_the_tensor() {
    let errors = [
        WeightsError::Missing {
            tensor: "wq".into(),
        },
        WeightsError::UnsupportedDtype {
            tensor: "wq".into(),
            dtype: "I64".into(),
        },
        WeightsError::NotFinite {
            tensor: "wq".into(),
            index: vec![0, 3],
            value: "NaN".into(),
        },
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.contains("`wq`"), "{msg}");
    }
    // A bad header names the tensor whose offsets are wrong.
    let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&[0; 8]);
    let err = Checkpoint::parse(file).unwrap_err();
    assert!(err.to_string().contains("`w`"), "{err}");
}

// ---- the decoder against the hardware's own conversions ----

proptest! {
    #[test]
    fn decode_f32_matches_from_float(bits in any::<u32>()) {
        let x = f32::from_bits(bits);
        match decode(bits as u64, 8, 23) {
            Ok(v) => prop_assert_eq!(Some(v), BigRational::from_float(x)),
            Err(_) => prop_assert!(!x.is_finite()),
        }
    }

    #[test]
    fn decode_f64_matches_from_float(bits in any::<u64>()) {
        let x = f64::from_bits(bits);
        match decode(bits, 11, 52) {
            Ok(v) => prop_assert_eq!(Some(v), BigRational::from_float(x)),
            Err(_) => prop_assert!(!x.is_finite()),
        }
    }

    #[test]
    fn decode_halves_match_half(bits in any::<u16>()) {
        let h = half::f16::from_bits(bits).to_f32();
        match decode(bits as u64, 5, 10) {
            Ok(v) => prop_assert_eq!(Some(v), BigRational::from_float(h)),
            Err(_) => prop_assert!(!h.is_finite()),
        }
        let b = half::bf16::from_bits(bits).to_f32();
        match decode(bits as u64, 8, 7) {
            Ok(v) => prop_assert_eq!(Some(v), BigRational::from_float(b)),
            Err(_) => prop_assert!(!b.is_finite()),
        }
    }

    #[test]
    fn encode_rounds_like_the_casts(x in any::<f64>()) {
        let file = encode(&[
            ("a", Dtype::F64, &[], &[x]),
            ("b", Dtype::F32, &[], &[x]),
            ("c", Dtype::F16, &[], &[x]),
            ("d", Dtype::BF16, &[], &[x]),
        ]);
        let ck = Checkpoint::parse(file).unwrap();
        let want = [
            BigRational::from_float(x),
            BigRational::from_float(x as f32),
            BigRational::from_float(half::f16::from_f64(x).to_f32()),
            BigRational::from_float(half::bf16::from_f64(x).to_f32()),
        ];
        for (name, want) in ["a", "b", "c", "d"].iter().zip(want) {
            let got = ck.values(name);
            match want {
                Some(w) => prop_assert_eq!(got.unwrap(), vec![w]),
                None => {
                    let is_not_finite = matches!(got, Err(WeightsError::NotFinite { .. }));
                    prop_assert!(is_not_finite);
                }
            }
        }
    }
}

// ---- fuzz: nothing panics ----

/// Parse, then read every tensor: errors are fine, panics are not.
fn exercise(bytes: Vec<u8>) {
    if let Ok(ck) = Checkpoint::parse(bytes) {
        for name in ck.names() {
            let info = ck.info(&name).expect("a listed name has info");
            if let Ok(v) = ck.values(&name) {
                assert_eq!(v.len(), info.shape.iter().product::<usize>());
            }
        }
    }
}

/// Bits of JSON that make random headers reach past the JSON parser.
fn header_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just(",".to_string()),
        Just("\"t\":".to_string()),
        Just("{\"dtype\":\"F32\",".to_string()),
        Just("{\"dtype\":\"BF16\",".to_string()),
        Just("{\"dtype\":\"I64\",".to_string()),
        Just("\"shape\":[2],".to_string()),
        Just("\"shape\":[],".to_string()),
        Just("\"data_offsets\":[0,8]".to_string()),
        Just("\"__metadata__\":{\"a\":\"b\"}".to_string()),
        (0u64..20).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(bytes);
    }

    #[test]
    fn random_headers_never_panic(
        pieces in prop::collection::vec(header_piece(), 0..24),
        data in prop::collection::vec(any::<u8>(), 0..40),
        slack in 0u64..3,
    ) {
        let header = pieces.concat();
        let mut bytes = (header.len() as u64 + slack).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        exercise(bytes);
    }

    #[test]
    fn mutated_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 0..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = small_file();
        for (at, byte, flip) in edits {
            let i = at.index(bytes.len());
            bytes[i] = if flip { bytes[i] ^ (1 << (byte % 8)) } else { byte };
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        exercise(bytes);
    }
}
