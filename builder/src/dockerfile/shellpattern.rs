//! Shell patterns for `${v#p}`, `${v%p}` and `${v/p/r}`: `*`, `?`, `[...]`
//! and escapes, where `*` also matches `/` (unlike `.dockerignore`).

pub(crate) fn trim_prefix(value: &str, pat: &Pattern, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut ends: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new((0..=chars.len()).rev())
    } else {
        Box::new(0..=chars.len())
    };
    match ends.find(|&e| pat.matches(&chars[..e])) {
        Some(e) => chars[e..].iter().collect(),
        None => value.to_string(),
    }
}

pub(crate) fn trim_suffix(value: &str, pat: &Pattern, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut starts: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new(0..=chars.len())
    } else {
        Box::new((0..=chars.len()).rev())
    };
    match starts.find(|&s| pat.matches(&chars[s..])) {
        Some(s) => chars[..s].iter().collect(),
        None => value.to_string(),
    }
}

/// A shell pattern (`*`, `?`, `[...]`, escapes) where `*` also matches `/`.
pub(crate) struct Pattern {
    toks: Vec<Tok>,
}

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

    /// Iterative matcher with single-star backtracking: linear in practice,
    /// never exponential.
    pub(crate) fn matches(&self, s: &[char]) -> bool {
        let (mut p, mut i) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            let ok = match self.toks.get(p) {
                Some(Tok::Star) => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                Some(Tok::Any) => true,
                Some(Tok::Lit(c)) => *c == s[i],
                Some(Tok::Class { negated, items }) => {
                    items.iter().any(|&(a, b)| a <= s[i] && s[i] <= b) != *negated
                }
                None => false,
            };
            if ok {
                p += 1;
                i += 1;
            } else if let Some((sp, si)) = star {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            } else {
                return false;
            }
        }
        self.toks[p..].iter().all(|t| matches!(t, Tok::Star))
    }
}
