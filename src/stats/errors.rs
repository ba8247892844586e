//! The error taxonomy: every failed request falls in exactly one class, counted per class and
//! reported as AIPerf's `error_summary` (code, type, message, count).

use std::collections::HashMap;

use crate::http::HttpError;

/// AIPerf's code for a request cancelled at the end of the grace period or on interrupt.
pub const CANCELLED_CODE: u16 = 499;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    ConnectRefused,
    ConnectFailed,
    ConnectTimeout,
    ConnectionReset,
    /// The server closed the connection before sending any byte of the response.
    ClosedBeforeResponse,
    /// The server closed the connection in the middle of a response.
    ClosedMidResponse,
    RequestTimeout,
    /// A non-2xx status.
    HttpStatus(u16),
    Malformed(HttpError),
    /// A body larger than `--max-response-bytes`.
    BodyTooLarge,
    /// A 2xx body that is not an embeddings list of the right length.
    NotEmbeddings,
    /// Bytes arrived after a complete response, before the next request was sent.
    UnsolicitedData,
    Io,
    Cancelled,
}

impl From<HttpError> for ErrorClass {
    fn from(e: HttpError) -> ErrorClass {
        ErrorClass::Malformed(e)
    }
}

impl ErrorClass {
    /// AIPerf's `code`: the HTTP status where there is one, 499 for cancellations.
    pub fn code(self) -> Option<u16> {
        match self {
            ErrorClass::HttpStatus(s) => Some(s),
            ErrorClass::Cancelled => Some(CANCELLED_CODE),
            _ => None,
        }
    }

    /// A stable machine-readable name.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectFailed => "connect_failed",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::ConnectionReset => "connection_reset",
            ErrorClass::ClosedBeforeResponse => "closed_before_response",
            ErrorClass::ClosedMidResponse => "closed_mid_response",
            ErrorClass::RequestTimeout => "request_timeout",
            ErrorClass::HttpStatus(_) => "http_status",
            ErrorClass::Malformed(HttpError::BadStatusLine) => "malformed_status_line",
            ErrorClass::Malformed(HttpError::BadHeader) => "malformed_header",
            ErrorClass::Malformed(HttpError::HeadTooLarge) => "oversized_head",
            ErrorClass::Malformed(HttpError::BadContentLength) => "bad_content_length",
            ErrorClass::Malformed(HttpError::UnsupportedTransferEncoding) => {
                "unsupported_transfer_encoding"
            }
            ErrorClass::Malformed(HttpError::BadChunk) => "bad_chunk",
            ErrorClass::BodyTooLarge => "oversized_body",
            ErrorClass::NotEmbeddings => "not_embeddings",
            ErrorClass::UnsolicitedData => "unsolicited_data",
            ErrorClass::Io => "io_error",
            ErrorClass::Cancelled => "cancelled",
        }
    }

    /// A default human-readable message, used when nothing more specific was captured.
    pub fn default_message(self) -> String {
        match self {
            ErrorClass::ConnectRefused => "connection refused".into(),
            ErrorClass::ConnectFailed => "connect failed".into(),
            ErrorClass::ConnectTimeout => "connect timed out".into(),
            ErrorClass::ConnectionReset => "connection reset by peer".into(),
            ErrorClass::ClosedBeforeResponse => {
                "server closed the connection before responding".into()
            }
            ErrorClass::ClosedMidResponse => "server closed the connection mid-response".into(),
            ErrorClass::RequestTimeout => "request timed out (--request-timeout-seconds)".into(),
            ErrorClass::HttpStatus(s) => format!("HTTP {s}"),
            ErrorClass::Malformed(e) => e.to_string(),
            ErrorClass::BodyTooLarge => "response body larger than --max-response-bytes".into(),
            ErrorClass::NotEmbeddings => {
                "2xx response is not an embeddings list for the inputs sent".into()
            }
            ErrorClass::UnsolicitedData => "server sent bytes after a complete response".into(),
            ErrorClass::Io => "I/O error".into(),
            ErrorClass::Cancelled => {
                "request cancelled (grace period over or run interrupted)".into()
            }
        }
    }
}

/// Counts by class, with the first specific message seen for each (e.g. an error body).
#[derive(Debug, Clone, Default)]
pub struct ErrorCounts {
    by_class: HashMap<ErrorClass, (u64, Option<String>)>,
}

/// One row of the error summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    pub class: ErrorClass,
    pub message: String,
    pub count: u64,
}

impl ErrorCounts {
    pub fn add(&mut self, class: ErrorClass, message: Option<String>) {
        self.add_n(class, 1, message);
    }

    pub fn add_n(&mut self, class: ErrorClass, n: u64, message: Option<String>) {
        if n == 0 {
            return;
        }
        let slot = self.by_class.entry(class).or_insert((0, None));
        slot.0 += n;
        if slot.1.is_none() {
            slot.1 = message;
        }
    }

    pub fn total(&self) -> u64 {
        self.by_class.values().map(|(n, _)| n).sum()
    }

    pub fn count(&self, class: ErrorClass) -> u64 {
        self.by_class.get(&class).map_or(0, |(n, _)| *n)
    }

    pub fn merge(&mut self, other: &ErrorCounts) {
        for (class, (n, msg)) in &other.by_class {
            self.add_n(*class, *n, msg.clone());
        }
    }

    /// Rows sorted by count (descending), then class.
    pub fn rows(&self) -> Vec<ErrorRow> {
        let mut rows: Vec<ErrorRow> = self
            .by_class
            .iter()
            .map(|(class, (count, msg))| ErrorRow {
                class: *class,
                message: msg.clone().unwrap_or_else(|| class.default_message()),
                count: *count,
            })
            .collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.class.cmp(&b.class)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_keep_the_first_message() {
        let mut a = ErrorCounts::default();
        a.add(ErrorClass::HttpStatus(500), Some("boom".into()));
        a.add(ErrorClass::HttpStatus(500), Some("other".into()));
        let mut b = ErrorCounts::default();
        b.add(ErrorClass::Cancelled, None);
        b.add(ErrorClass::HttpStatus(500), None);
        a.merge(&b);
        assert_eq!(a.total(), 4);
        let rows = a.rows();
        assert_eq!(
            rows[0],
            ErrorRow {
                class: ErrorClass::HttpStatus(500),
                message: "boom".into(),
                count: 3
            }
        );
        assert_eq!(rows[1].class.code(), Some(CANCELLED_CODE));
    }
}
