"""Load: playbooks and policies read with positions, validated at the boundary (every problem at
once, ``file:line:col: key.path: message``), a playbook held to the policies, and the digests a
decision is bound to."""
