"""GitOps: keep an API7 gateway group equal to the ADC files of a repository's commit.

source      CommitSource: the files of one commit, ancestry (worker.repos implements it)
limits      Limits: file size, file count, resources, nesting (hostile repositories)
yamlfile    one YAML file as data plus lines; aliases, merge keys, odd tags and duplicate keys refused
adc         ADC's file format as strict models
envvars     ${NAME} filled only from the variables the action allows
ids         ADC's id rule
resources   GatewayResource, the write and delete orders, ownership labels
writeonly   write-only values: hidden, stripped, digested
desired     the desired state: files checked, filled, merged into resources
"""
