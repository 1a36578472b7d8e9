//! The breach corpora behind `password.breached_check`: a k-anonymity range API in the format of
//! Have I Been Pwned's Pwned Passwords, or a local copy of its downloadable file.
//!
//! The API is asked for the 5-character prefix of the password's SHA-1 only, with padding asked
//! for (`Add-Padding: true`), so neither the password nor its hash leaves the machine. The file is
//! searched in place by bisection over byte offsets: it is tens of gigabytes, never loaded.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::breached::{BreachedPasswords, LookupFailed, PasswordSha1, range_lists};

/// `GET {base}/range/{prefix}`.
#[derive(Debug)]
pub struct RangeApi {
    client: reqwest::Client,
    base: url::Url,
}

impl RangeApi {
    pub fn new(base: url::Url, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, base })
    }
}

#[async_trait]
impl BreachedPasswords for RangeApi {
    async fn is_breached(&self, hash: &PasswordSha1) -> Result<bool, LookupFailed> {
        let url = format!("{}/range/{}", self.base.as_str().trim_end_matches('/'), hash.prefix());
        let fail = |what: &str| LookupFailed(format!("the range API {what}"));
        let response = self.client.get(&url).header("Add-Padding", "true").send().await.map_err(|error| {
            if error.is_timeout() { fail("did not answer in time") } else { fail("could not be reached") }
        })?;
        if !response.status().is_success() {
            return Err(fail(&format!("answered {}", response.status().as_u16())));
        }
        let body = response.text().await.map_err(|_| fail("answer broke off"))?;
        Ok(range_lists(&body, hash))
    }
}

/// A sorted `HASH:COUNT` file.
#[derive(Debug)]
pub struct CorpusFile {
    path: PathBuf,
}

impl CorpusFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

#[async_trait]
impl BreachedPasswords for CorpusFile {
    async fn is_breached(&self, hash: &PasswordSha1) -> Result<bool, LookupFailed> {
        let path = self.path.clone();
        let target = hash.full().to_owned();
        tokio::task::spawn_blocking(move || {
            let file =
                std::fs::File::open(&path).map_err(|error| LookupFailed(format!("opening the corpus: {error}")))?;
            search(file, &target).map_err(|error| LookupFailed(format!("reading the corpus: {error}")))
        })
        .await
        .map_err(|_| LookupFailed("the corpus search stopped".into()))?
    }
}

/// Below this many bytes the search reads lines in order.
const SCAN_WINDOW: u64 = 8192;

/// The upper-case hash of a `HASH:COUNT` line and whether its count is above zero.
fn parse_line(line: &str) -> (String, bool) {
    let (hash, count) = line.trim().split_once(':').unwrap_or((line.trim(), "1"));
    (hash.to_ascii_uppercase(), count.trim().parse::<u64>().map_or(true, |count| count > 0))
}

/// Whether the sorted corpus lists `target` (upper-case hex).
///
/// Bisects byte offsets: `lo` is always a line start with every earlier line below the target,
/// and the target, if listed, starts at or before `hi`. Each probe reads the first whole line after
/// the midpoint. Once the window is small, the lines in it are read in order.
fn search(file: impl Read + Seek, target: &str) -> std::io::Result<bool> {
    let mut reader = BufReader::with_capacity(4096, file);
    let len = reader.seek(SeekFrom::End(0))?;
    let (mut lo, mut hi) = (0_u64, len);
    let mut line = String::new();
    while hi - lo > SCAN_WINDOW {
        let mid = lo + (hi - lo) / 2;
        reader.seek(SeekFrom::Start(mid))?;
        line.clear();
        let skipped = reader.read_line(&mut line)? as u64; // the rest of the line `mid` falls in
        let start = mid + skipped;
        line.clear();
        if start > hi || reader.read_line(&mut line)? == 0 {
            hi = mid;
            continue;
        }
        let (hash, listed) = parse_line(&line);
        match hash.as_str().cmp(target) {
            std::cmp::Ordering::Less => lo = start,
            std::cmp::Ordering::Equal => return Ok(listed),
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    reader.seek(SeekFrom::Start(lo))?;
    let mut position = lo;
    while position <= hi {
        line.clear();
        let read = reader.read_line(&mut line)? as u64;
        if read == 0 {
            break;
        }
        position += read;
        let (hash, listed) = parse_line(&line);
        match hash.as_str().cmp(target) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Ok(listed),
            std::cmp::Ordering::Greater => break,
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    /// A sorted corpus of `n` pseudo-random hashes with counts of varying width, CRLF-terminated
    /// as the downloader writes it.
    fn corpus(n: usize) -> (Vec<String>, Vec<u8>) {
        let mut hashes: Vec<String> = (0..n)
            .map(|i| sha2::Sha256::digest(i.to_le_bytes())[..20].iter().map(|b| format!("{b:02X}")).collect())
            .collect();
        hashes.sort();
        let mut text = Vec::new();
        for (i, hash) in hashes.iter().enumerate() {
            text.extend_from_slice(format!("{hash}:{}\r\n", i * 37 % 100_000 + 1).as_bytes());
        }
        (hashes, text)
    }

    #[test]
    fn every_listed_hash_is_found_and_no_other() {
        let (hashes, text) = corpus(5000);
        for hash in hashes.iter().step_by(7).chain([&hashes[0], &hashes[hashes.len() - 1]]) {
            assert!(search(std::io::Cursor::new(&text), hash).expect("search"), "{hash}");
        }
        for absent in ["0000000000000000000000000000000000000000", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"] {
            assert!(!search(std::io::Cursor::new(&text), absent).expect("search"));
        }
        // Just above and below listed ones: their last digit changed.
        for hash in hashes.iter().step_by(97) {
            let mut near = hash.clone();
            let last = near.pop().expect("digit");
            near.push(if last == '0' { '1' } else { '0' });
            if !hashes.contains(&near) {
                assert!(!search(std::io::Cursor::new(&text), &near).expect("search"), "{near}");
            }
        }
    }

    #[test]
    fn tiny_and_empty_files_are_searched_too() {
        let (hashes, text) = corpus(3);
        assert!(search(std::io::Cursor::new(&text), &hashes[1]).expect("search"));
        assert!(!search(std::io::Cursor::new(Vec::new()), &hashes[1]).expect("search"));
    }
}
