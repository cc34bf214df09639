module hdh.invalid/probe

go 1.24
