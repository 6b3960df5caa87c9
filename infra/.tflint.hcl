# tflint for infra/: the built-in terraform ruleset with every rule on. No
# plugin is declared, so nothing is downloaded (CI is offline).
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
