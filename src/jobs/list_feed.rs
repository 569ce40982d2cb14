//! What the jobs list's event stream sends as the list changes: the whole page when which jobs
//! it holds (or their order) changed, else each job whose view changed. Read from successive
//! reads of the same page; what was last sent is kept as text, so an unchanged job costs a
//! comparison, not a message.

use std::collections::HashMap;

use serde_json::{Value, json};

/// One message of the list's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ListChange {
    /// `{"items": [...], "next_cursor"}`: the page as `GET /v1/jobs` gives it.
    Page(Value),
    /// One job of the page, changed (its status, progress, scores, name or tags).
    Job(Value),
}

/// What the stream last sent: the page's ids in order, and each job's view as text.
#[derive(Debug, Default)]
pub struct ListFeed {
    ids: Option<Vec<String>>,
    sent: HashMap<String, String>,
}

impl ListFeed {
    /// The messages that bring a client from what was last sent to `items` (job views, as
    /// `GET /v1/jobs` gives them, each with its `id`).
    pub fn next(&mut self, items: Vec<Value>, next_cursor: Option<i64>) -> Vec<ListChange> {
        let views: Vec<(String, Value)> = items
            .into_iter()
            .map(|v| (v["id"].as_str().unwrap_or_default().to_owned(), v))
            .collect();
        let ids: Vec<String> = views.iter().map(|(id, _)| id.clone()).collect();
        if self.ids.as_ref() != Some(&ids) {
            self.ids = Some(ids);
            self.sent = views
                .iter()
                .map(|(id, v)| (id.clone(), v.to_string()))
                .collect();
            let items: Vec<Value> = views.into_iter().map(|(_, v)| v).collect();
            let cursor = next_cursor.map(|n| n.to_string());
            return vec![ListChange::Page(
                json!({"items": items, "next_cursor": cursor}),
            )];
        }
        let mut changes = Vec::new();
        for (id, view) in views {
            let text = view.to_string();
            if self.sent.get(&id) != Some(&text) {
                self.sent.insert(id, text);
                changes.push(ListChange::Job(view));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, status: &str, fraction: f64) -> Value {
        json!({"id": id, "status": status, "progress": {"fraction": fraction}})
    }

    #[test]
    fn the_first_read_is_a_page_then_only_changed_jobs_are_sent() {
        let mut feed = ListFeed::default();
        let first = feed.next(
            vec![view("a", "running", 0.1), view("b", "queued", 0.0)],
            None,
        );
        assert!(
            matches!(&first[..], [ListChange::Page(p)] if p["items"].as_array().unwrap().len() == 2)
        );
        assert_eq!(
            feed.next(
                vec![view("a", "running", 0.1), view("b", "queued", 0.0)],
                None
            ),
            vec![]
        );
        let moved = feed.next(
            vec![view("a", "running", 0.5), view("b", "queued", 0.0)],
            None,
        );
        assert!(
            matches!(&moved[..], [ListChange::Job(j)] if j["id"] == "a" && j["progress"]["fraction"] == 0.5)
        );
    }

    #[test]
    fn a_new_job_or_a_new_order_sends_the_page_again() {
        let mut feed = ListFeed::default();
        feed.next(vec![view("a", "running", 0.1)], None);
        let added = feed.next(
            vec![view("b", "queued", 0.0), view("a", "running", 0.1)],
            Some(7),
        );
        assert!(matches!(&added[..], [ListChange::Page(p)] if p["next_cursor"] == "7"));
        let reordered = feed.next(
            vec![view("a", "running", 0.1), view("b", "queued", 0.0)],
            Some(7),
        );
        assert!(matches!(&reordered[..], [ListChange::Page(_)]));
    }
}
