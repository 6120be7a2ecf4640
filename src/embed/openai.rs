//! `OpenAiEmbedder`: any server speaking the OpenAI `POST /v1/embeddings` API.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::config::EmbedConfig;
use super::error::{one_line, EmbedError};
use super::vector::l2_normalize;
use super::Embedder;

/// Largest response body accepted (a 64-text batch of 3072-dim vectors is ~5 MB).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// How much of an error body goes into [`EmbedError::Status`].
const BODY_SNIPPET_CHARS: usize = 300;

/// Embeddings from an OpenAI-compatible HTTP server (blocking, `ureq`).
///
/// Sends `{"model": <model>, "input": [<texts>]}` to `{url}/v1/embeddings` in
/// chunks of `batch_size`, with `Authorization: Bearer <key>` when a key is
/// configured (from `api_key_env` or `api_key_file`, never inline). Vectors are
/// taken from `data[].embedding`, ordered by `data[].index`, and L2-normalised
/// (like every [`Embedder`]). The model id is `openai:<model>:<dim>`.
pub struct OpenAiEmbedder {
    agent: ureq::Agent,
    endpoint: String,
    model: String,
    api_key: Option<String>,
    model_id: String,
    dim: usize,
    batch_size: usize,
}

impl fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("OpenAiEmbedder")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("dim", &self.dim)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

/// `{url}/v1/embeddings`, without doubling a trailing `/v1`.
fn endpoint(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/embeddings")
    } else {
        format!("{base}/v1/embeddings")
    }
}

/// The API key from `api_key_env` (looked up with `lookup`) or `api_key_file`.
fn resolve_api_key(
    cfg: &EmbedConfig,
    base_dir: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, EmbedError> {
    let key = match (&cfg.api_key_env, &cfg.api_key_file) {
        (Some(_), Some(_)) => {
            return Err(EmbedError::Config(
                "set at most one of api_key_env and api_key_file".into(),
            ))
        }
        (Some(var), None) => Some(lookup(var).ok_or_else(|| {
            EmbedError::Config(format!(
                "api_key_env names {var}, which is not set in the environment"
            ))
        })?),
        (None, Some(file)) => {
            let path = base_dir.join(file);
            let s = std::fs::read_to_string(&path).map_err(|e| EmbedError::Io {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            Some(s)
        }
        (None, None) => None,
    };
    match key.map(|k| k.trim().to_string()) {
        Some(k) if k.is_empty() => Err(EmbedError::Config("the API key is empty".into())),
        other => Ok(other),
    }
}

impl OpenAiEmbedder {
    /// Build from config. Needs `url` and `model`; `api_key_file` is resolved
    /// against `base_dir`. When `dim` is not configured, embeds one probe text to
    /// learn it, so an unreachable or misbehaving server fails here.
    pub fn new(cfg: &EmbedConfig, base_dir: &Path) -> Result<Self, EmbedError> {
        cfg.validate()?;
        let url = cfg
            .url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| EmbedError::Config("backend \"openai\" needs url".into()))?;
        let model = cfg
            .model
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| EmbedError::Config("backend \"openai\" needs model".into()))?;
        let api_key = resolve_api_key(cfg, base_dir, |v| std::env::var(v).ok())?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(cfg.timeout_secs)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut me = Self {
            agent,
            endpoint: endpoint(url),
            model: model.to_string(),
            api_key,
            model_id: String::new(),
            dim: cfg.dim.unwrap_or(0),
            batch_size: cfg.batch_size,
        };
        if me.dim == 0 {
            let probe = me.request(&["dimension probe"])?;
            me.dim = probe[0].len();
        }
        me.model_id = format!("openai:{}:{}", me.model, me.dim);
        Ok(me)
    }

    /// The full endpoint URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One HTTP request for `texts` (non-empty); vectors in input order.
    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let url = &self.endpoint;
        let body = serde_json::json!({ "model": self.model, "input": texts });
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let mut resp = req
            .send(body.to_string().as_bytes())
            .map_err(|e| EmbedError::Http {
                url: url.clone(),
                reason: one_line(&e.to_string(), 300),
            })?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| EmbedError::Http {
                url: url.clone(),
                reason: one_line(&format!("reading response: {e}"), 300),
            })?;
        if !(200..300).contains(&status) {
            return Err(EmbedError::Status {
                url: url.clone(),
                status,
                body: one_line(&String::from_utf8_lossy(&bytes), BODY_SNIPPET_CHARS),
            });
        }
        let bad = |reason: String| EmbedError::Response {
            url: url.clone(),
            reason,
        };
        let parsed: Response = serde_json::from_slice(&bytes).map_err(|e| {
            bad(format!(
                "{e}; body starts: {}",
                one_line(&String::from_utf8_lossy(&bytes), 120)
            ))
        })?;
        if parsed.data.len() != texts.len() {
            return Err(bad(format!(
                "{} embeddings for {} inputs",
                parsed.data.len(),
                texts.len()
            )));
        }
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in parsed.data {
            let slot = slots
                .get_mut(item.index)
                .ok_or_else(|| bad(format!("index {} out of range", item.index)))?;
            if slot.is_some() {
                return Err(bad(format!("index {} repeated", item.index)));
            }
            *slot = Some(item.embedding);
        }
        let mut out = Vec::with_capacity(texts.len());
        for v in slots {
            // All indices are in range and distinct and there are len of them,
            // so every slot is filled.
            let mut v = v.ok_or_else(|| bad("missing index".into()))?;
            let expected = if self.dim == 0 { v.len() } else { self.dim };
            if v.is_empty() || v.len() != expected {
                return Err(bad(format!(
                    "vector of {} dims, expected {expected}",
                    v.len()
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(bad("vector contains NaN or infinity".into()));
            }
            l2_normalize(&mut v);
            out.push(v);
        }
        Ok(out)
    }
}

impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size.max(1)) {
            out.extend(self.request(chunk)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::config::Backend;
    use crate::embed::testkit::shared_local;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::thread;

    /// What the fake server saw in one request.
    struct Seen {
        path: String,
        auth: Option<String>,
        body: serde_json::Value,
    }

    fn read_request(stream: &mut TcpStream) -> Seen {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let (mut len, mut auth) = (0usize, None);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap(),
                "authorization" => auth = Some(v.trim().to_string()),
                _ => {}
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).unwrap();
        Seen {
            path,
            auth,
            body: serde_json::from_slice(&body).unwrap(),
        }
    }

    fn respond(stream: &mut TcpStream, status: &str, body: &str) {
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(resp.as_bytes()).unwrap();
        stream.flush().unwrap();
    }

    /// A one-thread HTTP server on 127.0.0.1:0 answering `requests` requests with
    /// `handler(inputs) -> (status, body)`; reports what it saw on the channel.
    fn serve(
        requests: usize,
        handler: impl Fn(&[String]) -> (String, String) + Send + 'static,
    ) -> (String, mpsc::Receiver<Seen>, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        let h = thread::spawn(move || {
            for _ in 0..requests {
                let (mut stream, _) = listener.accept().unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let seen = read_request(&mut stream);
                let inputs: Vec<String> = seen.body["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                let (status, body) = handler(&inputs);
                respond(&mut stream, &status, &body);
                tx.send(seen).unwrap();
            }
        });
        (url, rx, h)
    }

    fn openai_config(url: &str) -> EmbedConfig {
        EmbedConfig {
            backend: Backend::OpenAi,
            url: Some(url.to_string()),
            model: Some("all-MiniLM-L6-v2".into()),
            timeout_secs: 10,
            ..EmbedConfig::default()
        }
    }

    /// Serves vectors computed by the real local model, in reverse `index` order.
    fn local_model_handler(inputs: &[String]) -> (String, String) {
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let vs = shared_local().embed(&refs).unwrap();
        let data: Vec<serde_json::Value> = vs
            .iter()
            .enumerate()
            .rev()
            .map(|(i, v)| serde_json::json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        let body = serde_json::json!({"object": "list", "data": data, "model": "m"});
        ("200 OK".into(), body.to_string())
    }

    #[test]
    fn returns_the_servers_vectors_in_input_order() {
        let texts = [
            "How do I reset my password?",
            "The cat sits on the mat.",
            "Quarterly revenue grew by twelve percent.",
            "A fourth text, to force a second request.",
            "And a fifth.",
        ];
        let expected = shared_local().embed(&texts).unwrap();
        // probe + ceil(5 / 3) requests.
        let (url, rx, h) = serve(3, local_model_handler);
        let key_file =
            std::env::temp_dir().join(format!("driftwatch-embed-test-key-{}", std::process::id()));
        std::fs::write(&key_file, "sk-test-123\n").unwrap();
        let cfg = EmbedConfig {
            batch_size: 3,
            api_key_file: Some(key_file.clone()),
            ..openai_config(&format!("{url}/"))
        };
        let mut e = OpenAiEmbedder::new(&cfg, Path::new("/")).unwrap();
        std::fs::remove_file(&key_file).ok();
        assert_eq!(e.dim(), 384);
        assert_eq!(e.model_id(), "openai:all-MiniLM-L6-v2:384");
        assert!(!format!("{e:?}").contains("sk-test"));
        let got = e.embed(&texts).unwrap();
        h.join().unwrap();
        assert_eq!(got.len(), texts.len());
        for (g, x) in got.iter().zip(&expected) {
            assert_eq!(g.len(), 384);
            for (a, b) in g.iter().zip(x) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        let seen: Vec<Seen> = rx.iter().collect();
        assert_eq!(seen.len(), 3);
        for s in &seen {
            assert_eq!(s.path, "/v1/embeddings");
            assert_eq!(s.auth.as_deref(), Some("Bearer sk-test-123"));
            assert_eq!(s.body["model"], "all-MiniLM-L6-v2");
        }
        assert_eq!(seen[1].body["input"].as_array().unwrap().len(), 3);
        assert_eq!(seen[2].body["input"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn http_error_reports_status_and_body() {
        let (url, _rx, h) = serve(1, |_| {
            (
                "500 Internal Server Error".into(),
                "{\"error\":\"model\nexploded\"}".into(),
            )
        });
        let cfg = EmbedConfig {
            dim: Some(384),
            ..openai_config(&url)
        };
        let mut e = OpenAiEmbedder::new(&cfg, Path::new("/")).unwrap();
        let err = e.embed(&["x"]).unwrap_err();
        h.join().unwrap();
        let msg = err.to_string();
        assert!(
            matches!(err, EmbedError::Status { status: 500, .. }),
            "{err:?}"
        );
        assert!(msg.contains("500") && msg.contains("exploded"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert!(e.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn malformed_and_short_responses_are_errors() {
        let (url, _rx, h) = serve(2, |inputs| {
            if inputs[0] == "bad json" {
                ("200 OK".into(), "not json".into())
            } else {
                (
                    "200 OK".into(),
                    r#"{"data":[{"index":0,"embedding":[1.0,0.0]}]}"#.into(),
                )
            }
        });
        let cfg = EmbedConfig {
            dim: Some(2),
            ..openai_config(&url)
        };
        let mut e = OpenAiEmbedder::new(&cfg, Path::new("/")).unwrap();
        let err = e.embed(&["bad json"]).unwrap_err();
        assert!(matches!(err, EmbedError::Response { .. }), "{err:?}");
        let err = e.embed(&["a", "b"]).unwrap_err();
        assert!(
            err.to_string().contains("1 embeddings for 2 inputs"),
            "{err}"
        );
        h.join().unwrap();
    }

    #[test]
    fn unreachable_server_fails_at_construction() {
        // Bind then drop to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = openai_config(&format!("http://127.0.0.1:{port}"));
        let err = OpenAiEmbedder::new(&cfg, Path::new("/")).unwrap_err();
        assert!(matches!(err, EmbedError::Http { .. }), "{err:?}");
        assert!(err.to_string().contains(&port.to_string()), "{err}");
    }

    #[test]
    fn config_checks() {
        let mut cfg = openai_config("http://127.0.0.1:1");
        cfg.url = None;
        assert!(OpenAiEmbedder::new(&cfg, Path::new("/"))
            .unwrap_err()
            .to_string()
            .contains("needs url"));
        let cfg = EmbedConfig {
            api_key_env: Some("A".into()),
            api_key_file: Some("b".into()),
            ..openai_config("http://127.0.0.1:1")
        };
        let err = resolve_api_key(&cfg, Path::new("/"), |_| None).unwrap_err();
        assert!(err.to_string().contains("at most one"), "{err}");
        let cfg = EmbedConfig {
            api_key_env: Some("DW_TEST_KEY".into()),
            ..openai_config("http://127.0.0.1:1")
        };
        let err = resolve_api_key(&cfg, Path::new("/"), |_| None).unwrap_err();
        assert!(err.to_string().contains("DW_TEST_KEY"), "{err}");
        let key = resolve_api_key(&cfg, Path::new("/"), |v| {
            (v == "DW_TEST_KEY").then(|| " sk-1 ".to_string())
        })
        .unwrap();
        assert_eq!(key.as_deref(), Some("sk-1"));
        assert_eq!(
            resolve_api_key(&openai_config("x"), Path::new("/"), |_| None).unwrap(),
            None
        );
    }

    #[test]
    fn endpoint_joining() {
        assert_eq!(endpoint("http://h:1"), "http://h:1/v1/embeddings");
        assert_eq!(endpoint("http://h:1/"), "http://h:1/v1/embeddings");
        assert_eq!(endpoint("https://h/v1"), "https://h/v1/embeddings");
        assert_eq!(
            endpoint("https://h/proxy/v1/"),
            "https://h/proxy/v1/embeddings"
        );
    }
}
