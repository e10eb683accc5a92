//! The conversation a session keeps: past turns, trimmed to a token budget.

use std::collections::VecDeque;

use super::{ChatMessage, Role};

/// Rough token count used for the budget: servers' tokenizers differ, four characters a
/// token is close for English and errs on the safe side for short words.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

#[derive(Debug, Clone)]
pub struct History {
    turns: VecDeque<(String, String)>,
    budget_tokens: usize,
}

impl History {
    pub fn new(budget_tokens: usize) -> History {
        History {
            turns: VecDeque::new(),
            budget_tokens,
        }
    }

    /// A new budget (a reloaded `llm.history_tokens`), from the next question on.
    pub fn set_budget(&mut self, budget_tokens: usize) {
        self.budget_tokens = budget_tokens;
    }

    /// The messages for a new question: system prompt, as many recent turns as fit the
    /// budget (oldest dropped first), then the question.
    pub fn messages(&self, system_prompt: &str, question: &str) -> Vec<ChatMessage> {
        let mut used = 0;
        let mut kept = 0;
        for (q, a) in self.turns.iter().rev() {
            let cost = estimate_tokens(q) + estimate_tokens(a);
            if used + cost > self.budget_tokens {
                break;
            }
            used += cost;
            kept += 1;
        }
        let mut out = Vec::with_capacity(2 + kept * 2);
        if !system_prompt.is_empty() {
            out.push(ChatMessage::new(Role::System, system_prompt));
        }
        for (q, a) in self.turns.iter().skip(self.turns.len() - kept) {
            out.push(ChatMessage::new(Role::User, q));
            out.push(ChatMessage::new(Role::Assistant, a));
        }
        out.push(ChatMessage::new(Role::User, question));
        out
    }

    /// Records a finished turn. `spoken` is what the listener actually heard: after a
    /// barge-in, only the chunks played before it. An empty answer records nothing.
    pub fn record(&mut self, question: &str, spoken: &str) {
        let spoken = spoken.trim();
        if spoken.is_empty() {
            return;
        }
        self.turns
            .push_back((question.trim().to_string(), spoken.to_string()));
        // Turns that can never fit again are dropped for good.
        let mut total: usize = self
            .turns
            .iter()
            .map(|(q, a)| estimate_tokens(q) + estimate_tokens(a))
            .sum();
        while total > self.budget_tokens {
            let Some((q, a)) = self.turns.pop_front() else {
                break;
            };
            total -= estimate_tokens(&q) + estimate_tokens(&a);
        }
    }

    pub fn clear(&mut self) {
        self.turns.clear();
    }

    pub fn len(&self) -> usize {
        self.turns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_turns_within_budget() {
        let mut h = History::new(40);
        h.record("first question", &"a".repeat(60));
        h.record("second question", "short answer");
        h.record("third question", "another short answer");
        let m = h.messages("sys", "now");
        let texts: Vec<&str> = m.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            texts,
            [
                "sys",
                "second question",
                "short answer",
                "third question",
                "another short answer",
                "now"
            ]
        );
    }

    #[test]
    fn records_only_what_was_spoken() {
        let mut h = History::new(1000);
        h.record("q", "   ");
        assert!(h.is_empty());
        h.record("tell me a story", "Once upon a time.");
        assert_eq!(h.messages("", "more")[1].content, "Once upon a time.");
    }
}
