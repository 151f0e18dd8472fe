//! The enumerations this tool reads from Graph, parsed at the boundary into open canonical types:
//! every documented member (compared case-insensitively), and `Other` for anything else —
//! `unknownFutureValue`, or a member Microsoft added since (Graph returns those only to clients
//! that send `Prefer: include-unknown-enum-members`, which this tool does). An unknown value is
//! kept verbatim, shown, and handled by the rule each type documents; it never breaks a read.

use std::fmt;

/// Defines an open enum: known members with their Graph spelling, and `Other(String)`.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this tool does not know, kept as Graph sent it.
            Other(String),
        }

        impl $name {
            /// Every known member's Graph spelling.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// Parses a value as Graph sends it (any case); anything unknown is `Other`.
            pub fn parse(text: &str) -> $name {
                let trimmed = text.trim();
                $(if trimmed.eq_ignore_ascii_case($text) {
                    return $name::$variant;
                })+
                $name::Other(trimmed.to_string())
            }

            /// Graph's spelling (an unknown value as it came).
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }

            /// Whether the value is one this tool does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum! {
    /// `accessPackageAssignment.state`. Rules: only `Delivered` is delivered (so only it can be
    /// missing access, and be reprocessed); `DeliveryFailed` and `PartiallyDelivered` are failed
    /// deliveries; `Delivered`, `Delivering` and `PartiallyDelivered` explain the access their
    /// package grants. An unknown state is none of these: never delivered, never retried, and
    /// explaining nothing — as a live read, which lists assignments by the documented states,
    /// never sees it; the offline reader names it in a warning.
    AssignmentState {
        Delivering => "delivering",
        PartiallyDelivered => "partiallyDelivered",
        Delivered => "delivered",
        Expired => "expired",
        DeliveryFailed => "deliveryFailed",
    }
}

impl AssignmentState {
    pub fn is_delivered(&self) -> bool {
        *self == AssignmentState::Delivered
    }

    /// A delivery that failed, whole or in part: retried through its request.
    pub fn is_failed_delivery(&self) -> bool {
        matches!(
            self,
            AssignmentState::DeliveryFailed | AssignmentState::PartiallyDelivered
        )
    }

    /// Whether the assignment explains a holding of its package's roles.
    pub fn explains_access(&self) -> bool {
        matches!(
            self,
            AssignmentState::Delivered
                | AssignmentState::Delivering
                | AssignmentState::PartiallyDelivered
        )
    }
}

open_enum! {
    /// `accessPackageAssignmentRequest.state`. Rule: only `deliveryFailed` and
    /// `partiallyDelivered` requests can be retried (reprocessed); an unknown state cannot.
    RequestState {
        Submitted => "submitted",
        PendingApproval => "pendingApproval",
        Delivering => "delivering",
        Delivered => "delivered",
        DeliveryFailed => "deliveryFailed",
        Denied => "denied",
        Scheduled => "scheduled",
        Canceled => "canceled",
        PartiallyDelivered => "partiallyDelivered",
    }
}

impl RequestState {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RequestState::DeliveryFailed | RequestState::PartiallyDelivered
        )
    }
}

open_enum! {
    /// `accessPackageAssignmentRequest.requestType`. Rule: shown, never decided on — whatever
    /// its type, a request is judged by its state and time.
    RequestType {
        NotSpecified => "notSpecified",
        UserAdd => "userAdd",
        UserUpdate => "userUpdate",
        UserRemove => "userRemove",
        AdminAdd => "adminAdd",
        AdminUpdate => "adminUpdate",
        AdminRemove => "adminRemove",
        SystemAdd => "systemAdd",
        SystemUpdate => "systemUpdate",
        SystemRemove => "systemRemove",
        OnBehalfAdd => "onBehalfAdd",
        ApproverRemove => "approverRemove",
    }
}

open_enum! {
    /// `accessPackageResource.originSystem` of a resource role's scope. Rule: an unknown system
    /// is a resource of type `other`, whose roles are `unverifiable` (not readable here).
    OriginSystem {
        AadGroup => "AadGroup",
        AadApplication => "AadApplication",
        SharePointOnline => "SharePointOnline",
        DirectoryRole => "DirectoryRole",
    }
}

open_enum! {
    /// `directoryAudit.result`. Rule: only `success` changed anything; any other result
    /// (failure, timeout, unknown) explains nothing.
    AuditResult {
        Success => "success",
        Failure => "failure",
        Timeout => "timeout",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_states_known_unknown_and_their_rules() {
        assert_eq!(
            AssignmentState::parse("Delivered"),
            AssignmentState::Delivered
        );
        assert_eq!(
            AssignmentState::parse("DELIVERYFAILED"),
            AssignmentState::DeliveryFailed
        );
        for unknown in ["unknownFutureValue", "AutoAssignmentInGracePeriod", ""] {
            let state = AssignmentState::parse(unknown);
            assert!(state.is_unknown(), "{unknown}");
            assert_eq!(state.as_str(), unknown, "kept as sent");
            assert!(!state.is_delivered(), "{unknown}: never delivered");
            assert!(!state.is_failed_delivery(), "{unknown}: never retried");
            assert!(
                !state.explains_access(),
                "{unknown}: explains nothing (as live)"
            );
        }
        assert!(AssignmentState::Delivered.is_delivered());
        assert!(!AssignmentState::Expired.explains_access());
        assert!(AssignmentState::PartiallyDelivered.is_failed_delivery());
    }

    #[test]
    fn request_states_and_types() {
        assert!(RequestState::parse("deliveryfailed").is_retryable());
        assert!(RequestState::parse("PartiallyDelivered").is_retryable());
        assert!(!RequestState::parse("denied").is_retryable());
        let future = RequestState::parse("unknownFutureValue");
        assert!(future.is_unknown() && !future.is_retryable());
        assert_eq!(
            RequestType::parse("approverRemove"),
            RequestType::ApproverRemove
        );
        let new = RequestType::parse("approverReassign");
        assert!(new.is_unknown());
        assert_eq!(new.to_string(), "approverReassign");
    }

    #[test]
    fn origin_systems_and_audit_results() {
        assert_eq!(OriginSystem::parse("aadgroup"), OriginSystem::AadGroup);
        assert_eq!(
            OriginSystem::parse("SharePointOnline"),
            OriginSystem::SharePointOnline
        );
        assert!(OriginSystem::parse("AadTeam").is_unknown());
        assert_eq!(AuditResult::parse("Success"), AuditResult::Success);
        assert!(AuditResult::parse("unknownFutureValue").is_unknown());
    }
}
