//! OpenTelemetry traces: off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The variables are the OpenTelemetry specification's own, so an operator's existing
//! collector settings carry over; only the ones MedSync honours are read, and each is checked
//! here (the SDK would otherwise read some of them itself and ignore a bad value silently).

use std::collections::BTreeMap;
use std::fmt;

use super::{ConfigError, Env, FromEnv, HttpUrl, Source};

/// Where and how spans are exported, when they are.
#[derive(Debug, Clone)]
pub struct TracesConfig {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's OTLP/HTTP base URL, e.g.
    /// `http://otel-collector:4318`; spans are POSTed to `<endpoint>/v1/traces`.
    pub endpoint: HttpUrl,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: headers sent with every export (an API key, typically).
    pub headers: OtlpHeaders,
    /// `OTEL_TRACES_SAMPLER_ARG` (default 1): the share of new traces kept, 0 to 1. A trace
    /// started by a caller keeps the caller's decision (`traceparent`'s sampled flag).
    pub sample_ratio: f64,
}

impl TracesConfig {
    /// `None` when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset (traces off); the other variables
    /// are checked either way, so a typo shows before the day traces are turned on.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Option<Self>, ConfigError> {
        let endpoint = env.optional::<HttpUrl>("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let protocol: String = env.or("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned())?;
        if protocol != "http/protobuf" {
            return Err(ConfigError {
                var: "OTEL_EXPORTER_OTLP_PROTOCOL",
                value: Some(protocol),
                problem: "is not supported".to_owned(),
                expected: "http/protobuf (OTLP over HTTP, port 4318 of a collector; gRPC and JSON are not built in)",
            });
        }
        let headers = env.or("OTEL_EXPORTER_OTLP_HEADERS", OtlpHeaders::default())?;
        let sample_ratio: f64 = env.or("OTEL_TRACES_SAMPLER_ARG", 1.0)?;
        if !(0.0..=1.0).contains(&sample_ratio) {
            return Err(ConfigError {
                var: "OTEL_TRACES_SAMPLER_ARG",
                value: Some(sample_ratio.to_string()),
                problem: "is out of range".to_owned(),
                expected: "a share of traces from 0 to 1, such as 0.1",
            });
        }
        Ok(endpoint.map(|endpoint| Self {
            endpoint,
            headers,
            sample_ratio,
        }))
    }

    /// Where spans are POSTed: the endpoint with `/v1/traces` appended to its path.
    pub fn traces_url(&self) -> String {
        let base = self.endpoint.0.as_str().trim_end_matches('/');
        format!("{base}/v1/traces")
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs separated by commas, values
/// percent-encoded (the specification's format), e.g. `authorization=Bearer%20abc`. Secret:
/// never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OtlpHeaders(pub BTreeMap<String, String>);

impl fmt::Debug for OtlpHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FromEnv for OtlpHeaders {
    const EXPECTED: &'static str = "key=value pairs separated by commas, values percent-encoded, such as authorization=Bearer%20abc,x-tenant=clinic";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        let mut headers = BTreeMap::new();
        for (n, pair) in raw.split(',').map(str::trim).enumerate() {
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("pair {} has no '='", n + 1));
            };
            let key = key.trim().to_ascii_lowercase();
            let valid_name = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid_name {
                return Err(format!("pair {} has no valid header name", n + 1));
            }
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()
                .filter(|v| !v.bytes().any(|b| b.is_ascii_control()))
                .ok_or_else(|| format!("the value of pair {} is not valid", n + 1))?;
            headers.insert(key, value.into_owned());
        }
        Ok(Self(headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&'static str, &'static str)]) -> Env<HashMap<&'static str, &'static str>> {
        Env::new(pairs.iter().copied().collect())
    }

    #[test]
    fn traces_are_off_without_an_endpoint_and_on_with_one() {
        assert!(TracesConfig::from_env(&env(&[])).unwrap().is_none());
        let on = TracesConfig::from_env(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Authorization=Bearer%20s3cret, x-tenant=clinic",
            ),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(on.traces_url(), "http://collector:4318/v1/traces");
        assert_eq!(on.headers.0["authorization"], "Bearer s3cret");
        assert_eq!(on.headers.0["x-tenant"], "clinic");
        assert!((on.sample_ratio - 0.25).abs() < f64::EPSILON);
        let printed = format!("{on:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn bad_values_are_named_and_secrets_not_echoed() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "collector:4318",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "grpc",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "token-s3cret",
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "a=s3cret%0A",
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "bad name=s3cret",
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5", "OTEL_TRACES_SAMPLER_ARG"),
            ("OTEL_TRACES_SAMPLER_ARG", "half", "OTEL_TRACES_SAMPLER_ARG"),
        ];
        for (var, value, named) in cases {
            let err = TracesConfig::from_env(&env(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, *named, "{var}={value}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }
}
