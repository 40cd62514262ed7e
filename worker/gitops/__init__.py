"""GitOps: keep an API7 gateway group equal to the ADC files of a repository's commit.

source      CommitSource: the files of one commit, ancestry (worker.repos implements it)
paths       paths patterns and file names stay inside the repository
limits      Limits: file size, file count, resources, nesting (hostile repositories)
yamlfile    one YAML file as data plus lines; aliases, merge keys, odd tags and duplicate keys refused
adc         ADC's file format as strict models
envvars     ${NAME} filled only from the variables the action allows
ids         ADC's id rule
resources   GatewayResource, the write and delete orders, ownership labels
writeonly   write-only values: hidden, stripped, digested; values under secret-like names redacted
desired     the desired state: files checked, filled, merged into resources
normalize   the gateway's side reduced to what the file expresses (server fields, defaults, plugin defaults)
diff        field-level differences
plan        creates, updates, deletes; adoption, pruning from the inventory, the empty-group refusal
backends/   API7 3.5+ and 3.2: reading a group, turning a plan into phases of writes
inventory   what Relay applied per target and group (the only resources prune may delete)
journal     each write of a reconcile step: sent, then done
apply       phases in order, a bounded number of writes in flight, stop at a failure
revisions   the group's lock, pending revision, last attempted and applied, history
reconcile   Reconciler: read, plan, apply, record; newest revision wins
drift       a read-only plan against the last applied revision
keys        every Redis key of the package
"""
