//! Shell patterns for `${v#p}`, `${v%p}` and `${v/p/r}`: `*`, `?`, `[...]`
//! and escapes, where `*` also matches `/` (unlike `.dockerignore`).
//!
//! Matching simulates the pattern as an NFA over its tokens, so finding the
//! shortest or longest matching prefix is O(len * tokens): hostile values
//! and patterns cannot make expansion slow.

/// `${v#p}` / `${v##p}`: remove the shortest/longest matching prefix.
pub(crate) fn trim_prefix(value: &str, pat: &Pattern, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    match pat.prefix(&chars, greedy) {
        Some(e) => chars[e..].iter().collect(),
        None => value.to_string(),
    }
}

/// `${v%p}` / `${v%%p}`: remove the shortest/longest matching suffix
/// (a prefix match of the reversed pattern on the reversed value).
pub(crate) fn trim_suffix(value: &str, pat: &Pattern, greedy: bool) -> String {
    let mut rev: Vec<char> = value.chars().collect();
    rev.reverse();
    let rpat = Pattern {
        toks: pat.toks.iter().rev().cloned().collect(),
    };
    match rpat.prefix(&rev, greedy) {
        Some(n) => {
            let keep = rev.len() - n;
            value.chars().take(keep).collect()
        }
        None => value.to_string(),
    }
}

/// A shell pattern (`*`, `?`, `[...]`, escapes) where `*` also matches `/`.
pub(crate) struct Pattern {
    toks: Vec<Tok>,
}

#[derive(Clone)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

impl Pattern {
    pub(crate) fn new(p: &str, escape: char) -> Self {
        let chars: Vec<char> = p.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::Any),
                '[' => {
                    let mut j = i;
                    let negated = matches!(chars.get(j), Some('!' | '^'));
                    if negated {
                        j += 1;
                    }
                    let mut items = Vec::new();
                    let mut first = true;
                    let mut closed = false;
                    while j < chars.len() {
                        let a = chars[j];
                        if a == ']' && !first {
                            closed = true;
                            j += 1;
                            break;
                        }
                        first = false;
                        if chars.get(j + 1) == Some(&'-')
                            && chars.get(j + 2).is_some_and(|&b| b != ']')
                        {
                            items.push((a, chars[j + 2]));
                            j += 3;
                        } else {
                            items.push((a, a));
                            j += 1;
                        }
                    }
                    if closed {
                        toks.push(Tok::Class { negated, items });
                        i = j;
                    } else {
                        toks.push(Tok::Lit('['));
                    }
                }
                c if c == escape && i < chars.len() => {
                    toks.push(Tok::Lit(chars[i]));
                    i += 1;
                }
                c => toks.push(Tok::Lit(c)),
            }
        }
        Pattern { toks }
    }

    pub(crate) fn starts_with_star(&self) -> bool {
        matches!(self.toks.first(), Some(Tok::Star))
    }

    /// Length of the longest (or shortest) prefix of `s` the pattern
    /// matches, if any.
    pub(crate) fn prefix(&self, s: &[char], longest: bool) -> Option<usize> {
        let n = self.toks.len();
        let mut cur = vec![false; n + 1];
        cur[0] = true;
        self.closure(&mut cur);
        let mut best = cur[n].then_some(0);
        if best.is_some() && !longest {
            return best;
        }
        for (k, &c) in s.iter().enumerate() {
            let mut next = vec![false; n + 1];
            for p in (0..n).filter(|&p| cur[p]) {
                match &self.toks[p] {
                    Tok::Star => next[p] = true,
                    Tok::Any => next[p + 1] = true,
                    Tok::Lit(l) if *l == c => next[p + 1] = true,
                    Tok::Class { negated, items } => {
                        if items.iter().any(|&(a, b)| a <= c && c <= b) != *negated {
                            next[p + 1] = true;
                        }
                    }
                    Tok::Lit(_) => {}
                }
            }
            self.closure(&mut next);
            if !next.iter().any(|&b| b) {
                break;
            }
            if next[n] {
                best = Some(k + 1);
                if !longest {
                    break;
                }
            }
            cur = next;
        }
        best
    }

    /// A `*` may match nothing: being before it means being after it too.
    /// One forward pass suffices because a star only enables a later state.
    fn closure(&self, set: &mut [bool]) {
        for p in 0..self.toks.len() {
            if set[p] && matches!(self.toks[p], Tok::Star) {
                set[p + 1] = true;
            }
        }
    }
}
