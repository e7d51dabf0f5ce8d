//! TEMPORARY linear-scan stand-in for the sublist (replaced by the trie implementation).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub trait SubEntry: Send + Sync + 'static {
    fn subject(&self) -> &str;
    fn queue(&self) -> Option<&str>;
}
pub struct SublistResult<T> {
    pub psubs: Vec<Arc<T>>,
    pub qsubs: Vec<Vec<Arc<T>>>,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SublistError {
    InvalidSubject,
    NotFound,
}
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SublistStats {
    pub num_subscriptions: u32,
}
pub struct Sublist<T: SubEntry> {
    subs: RwLock<Vec<Arc<T>>>,
    genid: AtomicU64,
}
impl<T: SubEntry> Sublist<T> {
    pub fn new() -> Self {
        Sublist {
            subs: RwLock::new(Vec::new()),
            genid: AtomicU64::new(0),
        }
    }
    pub fn insert(&self, sub: Arc<T>) -> Result<(), SublistError> {
        if !is_valid_subject(sub.subject()) {
            return Err(SublistError::InvalidSubject);
        }
        self.subs.write().unwrap().push(sub);
        self.genid.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    pub fn remove(&self, sub: &Arc<T>) -> Result<(), SublistError> {
        let mut s = self.subs.write().unwrap();
        let i = s
            .iter()
            .position(|x| Arc::ptr_eq(x, sub))
            .ok_or(SublistError::NotFound)?;
        s.remove(i);
        self.genid.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    pub fn match_subject(&self, subject: &str) -> Arc<SublistResult<T>> {
        let mut r = SublistResult {
            psubs: vec![],
            qsubs: vec![],
        };
        let mut names: Vec<String> = vec![];
        for s in self.subs.read().unwrap().iter() {
            if !match_literal(subject, s.subject()) {
                continue;
            }
            match s.queue() {
                None => r.psubs.push(s.clone()),
                Some(q) => match names.iter().position(|n| n == q) {
                    Some(i) => r.qsubs[i].push(s.clone()),
                    None => {
                        names.push(q.to_string());
                        r.qsubs.push(vec![s.clone()]);
                    }
                },
            }
        }
        Arc::new(r)
    }
    pub fn count(&self) -> u32 {
        self.subs.read().unwrap().len() as u32
    }
    pub fn genid(&self) -> u64 {
        self.genid.load(Ordering::Relaxed)
    }
    pub fn stats(&self) -> SublistStats {
        SublistStats {
            num_subscriptions: self.count(),
        }
    }
}
pub fn is_valid_subject(s: &str) -> bool {
    let toks: Vec<&str> = s.split('.').collect();
    !s.is_empty()
        && toks
            .iter()
            .all(|t| !t.is_empty() && !t.contains([' ', '\t', '\r', '\n']))
        && !toks[..toks.len() - 1].contains(&">")
}
pub fn is_valid_literal_subject(s: &str) -> bool {
    is_valid_subject(s) && s.split('.').all(|t| t != "*" && t != ">")
}
pub fn match_literal(literal: &str, pattern: &str) -> bool {
    let l: Vec<&str> = literal.split('.').collect();
    let p: Vec<&str> = pattern.split('.').collect();
    if l.iter().any(|t| t.is_empty()) {
        return false;
    }
    for (i, pt) in p.iter().enumerate() {
        if *pt == ">" {
            return l.len() > i;
        }
        match l.get(i) {
            None => return false,
            Some(lt) if *pt != "*" && pt != lt => return false,
            _ => {}
        }
    }
    l.len() == p.len()
}
