//! The document's paths as a lookup table, so that a request for a known
//! path with a method it does not take gets 405 and `Allow`, not 404.

use utoipa::openapi::OpenApi;

enum Segment {
    Literal(String),
    Parameter,
}

pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn new(api: &OpenApi) -> RouteTable {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                (segments, methods)
            })
            .collect();
        RouteTable { routes }
    }

    /// The methods the document lists for `path`, if it knows the path. A
    /// path that a concrete template names (`/dsp/negotiations/request`)
    /// is that template's, not also a templated one's
    /// (`/dsp/negotiations/{id}`), as OpenAPI matches them.
    pub fn methods(&self, path: &str) -> Option<Vec<&'static str>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let matching: Vec<(usize, &Vec<&'static str>)> = self
            .routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(segment, part)| match segment {
                            Segment::Literal(literal) => literal == part,
                            Segment::Parameter => true,
                        })
            })
            .map(|(segments, methods)| {
                let literals = segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count();
                (literals, methods)
            })
            .collect();
        let most = matching.iter().map(|(literals, _)| *literals).max()?;
        let mut methods: Vec<&'static str> = matching
            .into_iter()
            .filter(|(literals, _)| *literals == most)
            .flat_map(|(_, methods)| methods.iter().copied())
            .collect();
        methods.sort_unstable();
        methods.dedup();
        Some(methods)
    }
}
