//! GitLab's offset pagination (`Gitlab::Pagination::OffsetPagination` and its header
//! builder): `page` and `per_page` (default 20, at most 100, as Kaminari caps it), and the
//! headers GitLab sends with every paginated list.

use axum::http::{HeaderMap, HeaderValue, Uri};

use gl_http::grape::{Declared, Integer};
use gl_model::Settings;

pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;

/// `use :pagination`: the page asked for, as Kaminari reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub page: i64,
    pub per_page: i64,
}

impl Pagination {
    /// `optional :page, type: Integer, default: 1` and `optional :per_page, type: Integer,
    /// default: 20`. Kaminari reads a page below 1 as the first; a `per_page` over 100 as
    /// 100; one below 1 is read here as the default (Kaminari would divide by it).
    pub fn declare(declared: &mut Declared<'_>) -> Self {
        let page = declared.optional_or("page", Integer, 1).max(1);
        let per_page = declared.optional_or("per_page", Integer, DEFAULT_PER_PAGE);
        let per_page = if per_page < 1 {
            DEFAULT_PER_PAGE
        } else {
            per_page.min(MAX_PER_PAGE)
        };
        Self { page, per_page }
    }

    /// The page's slice of `all`, and the headers that describe it.
    pub fn paginate<T>(self, all: Vec<T>, uri: &Uri, settings: &Settings) -> (Vec<T>, HeaderMap) {
        let total = all.len() as i64;
        let total_pages = ((total + self.per_page - 1) / self.per_page).max(1);
        // Kaminari: no next or previous page past the last one (`out_of_range?`).
        let out_of_range = self.page > total_pages;
        let next = (!out_of_range && self.page < total_pages).then(|| self.page + 1);
        let prev = (!out_of_range && self.page > 1).then(|| self.page - 1);
        let skip =
            usize::try_from((self.page - 1).saturating_mul(self.per_page)).unwrap_or(usize::MAX);
        let items: Vec<T> = all
            .into_iter()
            .skip(skip)
            .take(self.per_page as usize)
            .collect();

        let mut links = Vec::new();
        if let Some(prev) = prev {
            links.push(format!(
                "<{}>; rel=\"prev\"",
                self.href(prev, uri, settings)
            ));
        }
        if let Some(next) = next {
            links.push(format!(
                "<{}>; rel=\"next\"",
                self.href(next, uri, settings)
            ));
        }
        links.push(format!("<{}>; rel=\"first\"", self.href(1, uri, settings)));
        links.push(format!(
            "<{}>; rel=\"last\"",
            self.href(total_pages, uri, settings)
        ));

        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("x-per-page", self.per_page.to_string());
        set("x-page", self.page.to_string());
        set(
            "x-next-page",
            next.map(|p| p.to_string()).unwrap_or_default(),
        );
        set(
            "x-prev-page",
            prev.map(|p| p.to_string()).unwrap_or_default(),
        );
        set("link", links.join(", "));
        set("x-total", total.to_string());
        set("x-total-pages", total_pages.to_string());
        (items, headers)
    }

    /// The request's URL on GitLab's external host (`Gitlab.config.gitlab` host and port) with
    /// its query parameters, `page` set, sorted by name as Rails' `to_query` writes them. The
    /// `private_token` parameter is left out: a link must not carry a credential.
    fn href(self, page: i64, uri: &Uri, settings: &Settings) -> String {
        let mut query: Vec<(String, String)> = uri
            .query()
            .and_then(|query| serde_urlencoded::from_str(query).ok())
            .unwrap_or_default();
        query.retain(|(name, _)| !matches!(name.as_str(), "page" | "per_page" | "private_token"));
        query.push(("page".to_owned(), page.to_string()));
        query.push(("per_page".to_owned(), self.per_page.to_string()));
        query.sort();
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        let base = settings.gitlab_url.trim_end_matches('/');
        format!("{base}{}?{query}", uri.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_for(page: i64, per_page: i64, total: usize) -> HeaderMap {
        let uri: Uri = "/api/v4/x?private_token=secret&b=1".parse().unwrap();
        let settings = Settings {
            gitlab_url: "https://gitlab.example.com/".into(),
            ..Settings::default()
        };
        Pagination { page, per_page }
            .paginate(vec![0; total], &uri, &settings)
            .1
    }

    #[test]
    fn links_keep_other_parameters_drop_the_token_and_sort() {
        let headers = headers_for(2, 1, 3);
        assert_eq!(
            headers["link"],
            "<https://gitlab.example.com/api/v4/x?b=1&page=1&per_page=1>; rel=\"prev\", \
             <https://gitlab.example.com/api/v4/x?b=1&page=3&per_page=1>; rel=\"next\", \
             <https://gitlab.example.com/api/v4/x?b=1&page=1&per_page=1>; rel=\"first\", \
             <https://gitlab.example.com/api/v4/x?b=1&page=3&per_page=1>; rel=\"last\""
        );
        assert_eq!(headers["x-total-pages"], "3");
    }

    #[test]
    fn an_empty_list_has_one_page_and_past_the_end_has_no_neighbours() {
        let empty = headers_for(1, 20, 0);
        assert_eq!(empty["x-total-pages"], "1");
        assert_eq!(empty["x-next-page"], "");
        let past = headers_for(5, 1, 2);
        assert_eq!(past["x-prev-page"], "");
        assert_eq!(past["x-next-page"], "");
    }

    /// Found by Schemathesis: the last page number an Integer param can hold, past the end,
    /// once computed a next page that overflowed (a 500).
    #[test]
    fn the_largest_page_is_past_the_end() {
        let last = headers_for(i64::MAX, 20, 3);
        assert_eq!(last["x-page"], i64::MAX.to_string());
        assert_eq!(last["x-next-page"], "");
        assert_eq!(last["x-prev-page"], "");
    }
}
