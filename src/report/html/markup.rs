//! A small HTML writer that cannot be made to inject markup: tag and attribute names and raw
//! fragments are `&'static str` (written by us, never from data), and every value that may
//! come from outside is escaped on its way in.

use std::fmt::Write;

/// Escape text for an HTML text node or a quoted attribute value.
#[cfg(test)]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // NUL is a parse error in HTML; the text layer never yields it, but be sure.
            '\0' => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
}

/// An HTML document being written.
#[derive(Debug, Default)]
pub struct Html {
    out: String,
}

/// An attribute: a fixed name and a value that is escaped when written.
pub type Attr<'a> = (&'static str, &'a str);

impl Html {
    /// An empty document.
    pub fn new() -> Html {
        Html::default()
    }

    /// The markup written so far.
    pub fn finish(self) -> String {
        self.out
    }

    /// A fragment of our own markup (CSS, script, doctype): never data.
    pub fn raw(&mut self, fragment: &'static str) -> &mut Self {
        self.out.push_str(fragment);
        self
    }

    /// `<tag attr="value" ...>`.
    pub fn open(&mut self, tag: &'static str, attrs: &[Attr<'_>]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// A self-closing element (SVG shapes, `<meta>`).
    pub fn void(&mut self, tag: &'static str, attrs: &[Attr<'_>]) -> &mut Self {
        self.open(tag, attrs);
        // `<x ...>` becomes `<x .../>`, which HTML and SVG both read as an empty element.
        self.out.pop();
        self.out.push_str("/>");
        self
    }

    /// Escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.out, text);
        self
    }

    /// `<tag attrs>text</tag>`.
    pub fn element(&mut self, tag: &'static str, attrs: &[Attr<'_>], text: &str) -> &mut Self {
        self.open(tag, attrs).text(text).close(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_never_becomes_markup() {
        let hostile = "\"><img src=x onerror=alert(1)></pre><script>alert('x')</script>&amp;";
        let mut html = Html::new();
        html.open("div", &[("title", hostile)])
            .text(hostile)
            .close("div");
        let out = html.finish();
        assert_eq!(
            out,
            "<div title=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;/pre&gt;&lt;script&gt;\
             alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;\">&quot;&gt;&lt;img src=x onerror=alert(1)\
             &gt;&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;</div>"
        );
        assert_eq!(escape("a\0b"), "a\u{fffd}b");
    }

    #[test]
    fn void_elements_close_themselves() {
        let mut html = Html::new();
        html.void("rect", &[("x", "1"), ("y", "2")]);
        assert_eq!(html.finish(), "<rect x=\"1\" y=\"2\"/>");
    }
}
