//! Payload filters with Qdrant's shape: every `must` condition holds, at least one `should`
//! holds (when there are any), no `must_not` holds.
use alloc::string::String;
use alloc::vec::Vec;

use crate::json::{get, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum MatchValue {
    Keyword(String),
    Integer(i64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The field equals the value (a string for a keyword, an integral number for an integer).
    Match { key: String, value: MatchValue },
    /// The field is a number within the bounds given.
    Range { key: String, gt: Option<f64>, gte: Option<f64>, lt: Option<f64>, lte: Option<f64> },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub must: Vec<Condition>,
    pub should: Vec<Condition>,
    pub must_not: Vec<Condition>,
}

impl Condition {
    pub fn matches(&self, payload: &[(String, Value)]) -> bool {
        match self {
            Condition::Match { key, value } => match (get(payload, key), value) {
                (Some(Value::Str(s)), MatchValue::Keyword(k)) => s == k,
                (Some(Value::Num(n)), MatchValue::Integer(i)) => *n == *i as f64 && *n as i64 == *i,
                (Some(Value::Bool(b)), MatchValue::Bool(v)) => b == v,
                _ => false,
            },
            Condition::Range { key, gt, gte, lt, lte } => match get(payload, key) {
                Some(Value::Num(n)) => {
                    gt.is_none_or(|b| *n > b) && gte.is_none_or(|b| *n >= b) && lt.is_none_or(|b| *n < b) && lte.is_none_or(|b| *n <= b)
                }
                _ => false,
            },
        }
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.must.is_empty() && self.should.is_empty() && self.must_not.is_empty()
    }
    pub fn matches(&self, payload: &[(String, Value)]) -> bool {
        self.must.iter().all(|c| c.matches(payload))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(payload)))
            && !self.must_not.iter().any(|c| c.matches(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn must_should_must_not() {
        let p = parse(br#"{"city":"Paris","year":2020,"price":9.5,"new":true}"#).unwrap();
        let kw = |k: &str, v: &str| Condition::Match { key: k.to_string(), value: MatchValue::Keyword(v.to_string()) };
        let int = |k: &str, v: i64| Condition::Match { key: k.to_string(), value: MatchValue::Integer(v) };
        let range = |k: &str, gte: f64, lt: f64| Condition::Range { key: k.to_string(), gt: None, gte: Some(gte), lt: Some(lt), lte: None };
        assert!(Filter { must: vec![kw("city", "Paris"), int("year", 2020)], ..Default::default() }.matches(&p));
        assert!(!Filter { must: vec![kw("city", "Rome")], ..Default::default() }.matches(&p));
        assert!(!Filter { must: vec![kw("year", "2020")], ..Default::default() }.matches(&p));
        assert!(!Filter { must: vec![int("price", 9)], ..Default::default() }.matches(&p));
        assert!(Filter { must: vec![range("price", 9.5, 10.0)], ..Default::default() }.matches(&p));
        assert!(!Filter { must: vec![range("price", 0.0, 9.5)], ..Default::default() }.matches(&p));
        assert!(!Filter { must: vec![range("city", 0.0, 9.5)], ..Default::default() }.matches(&p));
        assert!(Filter { should: vec![kw("city", "Rome"), int("year", 2020)], ..Default::default() }.matches(&p));
        assert!(!Filter { should: vec![kw("city", "Rome"), int("year", 2021)], ..Default::default() }.matches(&p));
        assert!(!Filter { must_not: vec![kw("city", "Paris")], ..Default::default() }.matches(&p));
        assert!(Filter { must_not: vec![kw("missing", "x")], ..Default::default() }.matches(&p));
        let b = Condition::Match { key: "new".to_string(), value: MatchValue::Bool(true) };
        assert!(Filter { must: vec![b], ..Default::default() }.matches(&p));
    }
}
