"""The signed-in person of a request, as Gatehouse's `GET /v1/session` describes them."""

from dataclasses import dataclass
from typing import Any, Dict, Optional

ROLES = ("member", "admin", "owner")


@dataclass(frozen=True)
class Auth:
    """`user`, `session` and, when the session acts in one, `workspace` (`{id, role}`)."""

    user: Dict[str, Any]
    session: Dict[str, Any]
    workspace: Optional[Dict[str, Any]] = None

    @property
    def user_id(self) -> str:
        return self.user["id"]

    @property
    def role(self) -> Optional[str]:
        return (self.workspace or {}).get("role")

    def has_role(self, role: str) -> bool:
        """At least `role` (member < admin < owner) in the session's active workspace."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        mine = self.role
        return mine in ROLES and ROLES.index(mine) >= ROLES.index(role)

    @classmethod
    def from_json(cls, body: Dict[str, Any]) -> "Auth":
        return cls(user=body["user"], session=body["session"], workspace=body.get("workspace"))
