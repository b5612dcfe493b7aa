//! DAP's base protocol: `Content-Length: N\r\n\r\n` then N bytes of JSON.
//!
//! Reading is robust to messages split across reads and to several messages
//! in one read (a buffered reader). A header we cannot parse leaves no way to
//! find the next message, so it ends the connection; a body that is not JSON
//! is the session's business (it answers with an error and goes on).

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bodies larger than this are refused (and end the connection).
pub const MAX_BODY: usize = 64 << 20;
/// A header line longer than this is not DAP.
const MAX_HEADER_LINE: usize = 8 << 10;
/// Nor are more header lines than this.
const MAX_HEADER_LINES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("bad message header: {0}")]
    BadHeader(String),
    #[error("message of {0} bytes is larger than the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("connection ended in the middle of a message")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads the next message body; `Ok(None)` at a clean end of stream
/// (between messages).
pub async fn read_frame<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut length: Option<usize> = None;
    let mut lines = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *r)
            .take(MAX_HEADER_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return if lines == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        if line.last() != Some(&b'\n') {
            return Err(if n > MAX_HEADER_LINE {
                FrameError::BadHeader("header line too long".into())
            } else {
                FrameError::Truncated
            });
        }
        lines += 1;
        let text = std::str::from_utf8(&line)
            .map_err(|_| FrameError::BadHeader("header is not UTF-8".into()))?
            .trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines == 1 {
                // Tolerate stray blank lines between messages.
                lines = 0;
                continue;
            }
            break;
        }
        if lines > MAX_HEADER_LINES {
            return Err(FrameError::BadHeader("too many header lines".into()));
        }
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| FrameError::BadHeader(format!("{text:?} is not a header")))?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            let v = value.trim();
            let n: u64 = v
                .parse()
                .map_err(|_| FrameError::BadHeader(format!("bad Content-Length {v:?}")))?;
            length = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        // Other headers (Content-Type) are allowed and ignored.
    }
    let length = length.ok_or_else(|| FrameError::BadHeader("no Content-Length".into()))?;
    if length > MAX_BODY {
        return Err(FrameError::TooLarge(length));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    Ok(Some(body))
}

/// Writes one message and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    let mut buf = Vec::with_capacity(header.len() + body.len());
    buf.extend_from_slice(header.as_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    async fn read_all(input: Vec<u8>, chunk: usize) -> Vec<Result<Option<Vec<u8>>, String>> {
        let (mut client, server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for c in input.chunks(chunk.max(1)) {
                client.write_all(c).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut r = BufReader::new(server);
        let mut out = Vec::new();
        loop {
            let m = read_frame(&mut r).await.map_err(|e| e.to_string());
            let end = !matches!(m, Ok(Some(_)));
            out.push(m);
            if end {
                break;
            }
        }
        writer.await.unwrap();
        out
    }

    fn bodies(v: &[Result<Option<Vec<u8>>, String>]) -> Vec<String> {
        v.iter()
            .filter_map(|m| match m {
                Ok(Some(b)) => Some(String::from_utf8(b.clone()).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn split_and_concatenated_messages() {
        let mut input = frame(r#"{"a":1}"#);
        input.extend(frame(r#"{"b":"é"}"#));
        input.extend(frame("{}"));
        for chunk in [1, 2, 3, 7, 1000] {
            let got = read_all(input.clone(), chunk).await;
            assert_eq!(
                bodies(&got),
                [r#"{"a":1}"#, r#"{"b":"é"}"#, "{}"],
                "chunk {chunk}"
            );
            assert!(matches!(got.last(), Some(Ok(None))), "clean end");
        }
    }

    #[tokio::test]
    async fn header_variants() {
        let body = r#"{"x":true}"#;
        let input = format!(
            "content-length:{}\nContent-Type: application/vscode-jsonrpc; charset=utf-8\n\n{body}",
            body.len()
        );
        let got = read_all(input.into_bytes(), 5).await;
        assert_eq!(bodies(&got), [body]);
    }

    #[tokio::test]
    async fn bad_headers() {
        for bad in [
            "Content-Length: abc\r\n\r\n{}",
            "Content-Length: -3\r\n\r\n{}",
            "Content-Type: x\r\n\r\n{}",
            "hello world\r\n\r\n",
        ] {
            let got = read_all(bad.as_bytes().to_vec(), 4).await;
            let last = got.last().unwrap();
            assert!(
                matches!(last, Err(e) if e.contains("bad message header")),
                "{bad:?}: {last:?}"
            );
        }
        let long = format!("X-Long: {}\r\n", "a".repeat(MAX_HEADER_LINE + 10));
        let got = read_all(long.into_bytes(), 4096).await;
        assert!(matches!(got.last().unwrap(), Err(e) if e.contains("too long")));
    }

    #[tokio::test]
    async fn oversized_and_truncated() {
        let huge = format!("Content-Length: {}\r\n\r\n{{}}", MAX_BODY + 1);
        let got = read_all(huge.into_bytes(), 100).await;
        assert!(matches!(got.last().unwrap(), Err(e) if e.contains("larger than")));
        let huge = "Content-Length: 99999999999999999999999\r\n\r\n".to_string();
        let got = read_all(huge.into_bytes(), 100).await;
        assert!(got.last().unwrap().is_err());
        let cut = "Content-Length: 10\r\n\r\n{}".to_string();
        let got = read_all(cut.into_bytes(), 100).await;
        assert!(matches!(got.last().unwrap(), Err(e) if e.contains("middle")));
        let cut = "Content-Length: 10\r\n".to_string();
        let got = read_all(cut.into_bytes(), 100).await;
        assert!(matches!(got.last().unwrap(), Err(e) if e.contains("middle")));
    }

    #[tokio::test]
    async fn write_then_read() {
        let (mut a, b) = tokio::io::duplex(1024);
        write_frame(&mut a, br#"{"seq":1}"#).await.unwrap();
        drop(a);
        let mut r = BufReader::new(b);
        assert_eq!(read_frame(&mut r).await.unwrap().unwrap(), br#"{"seq":1}"#);
        assert!(read_frame(&mut r).await.unwrap().is_none());
    }
}
