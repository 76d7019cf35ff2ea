//! The client certificate of a TLS connection as a caller (`MCPGATE_AUTH=mtls`): its subject's
//! common name (or, without one, its first DNS, e-mail or URI subject alternative name) is the
//! subject, its organization (`O`) the tenant. The certificate was verified against
//! `MCPGATE_TLS_CLIENT_CA` during the handshake; nothing here trusts anything the client says
//! over HTTP.

use std::sync::Arc;

use x509_parser::extensions::GeneralName;

use super::is_identifier;

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The caller.
    pub subject: Arc<str>,
    /// The tenant, when the certificate names an organization.
    pub org: Option<Arc<str>>,
}

impl ClientCertificate {
    /// The identity in the DER certificate `der`; `None` when it names no usable subject or
    /// organization (a name must be an identifier: 1-128 letters, digits, '.', '_', '-' or
    /// '@'). Without an organization the tenant is the default one.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let common_name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let alternative = || {
            let names = cert.subject_alternative_name().ok()??;
            names
                .value
                .general_names
                .iter()
                .find_map(|name| match name {
                    GeneralName::DNSName(n) | GeneralName::RFC822Name(n) | GeneralName::URI(n) => {
                        Some((*n).to_owned())
                    }
                    _ => None,
                })
        };
        let name = common_name.or_else(alternative)?;
        if !is_identifier(&name) {
            return None;
        }
        // An organization that is not a usable tenant name refuses the certificate rather than
        // putting its holder in the default tenant.
        let org = match subject.iter_organization().next() {
            None => None,
            Some(o) => Some(o.as_str().ok().filter(|o| is_identifier(o))?.into()),
        };
        Some(Self {
            subject: name.into(),
            org,
        })
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;

    fn der(cn: Option<&str>, org: Option<&str>, sans: &[&str]) -> Vec<u8> {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        if let Some(org) = org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn the_subject_is_the_common_name_else_the_first_alternative_name() {
        let named = ClientCertificate::from_der(&der(Some("alice"), Some("acme"), &["x.example"]))
            .expect("identity");
        assert_eq!(&*named.subject, "alice");
        assert_eq!(named.org.as_deref(), Some("acme"));
        let bare = ClientCertificate::from_der(&der(None, None, &["svc.internal"])).expect("san");
        assert_eq!(&*bare.subject, "svc.internal");
        assert_eq!(bare.org, None);
        // A name or organization that is not an identifier names nobody.
        assert!(ClientCertificate::from_der(&der(Some("a b/c"), None, &[])).is_none());
        assert!(ClientCertificate::from_der(&der(Some("bob"), Some("Acme, Inc."), &[])).is_none());
        assert!(ClientCertificate::from_der(b"not a certificate").is_none());
    }
}
